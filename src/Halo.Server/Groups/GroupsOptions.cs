namespace Halo.Server.Groups;

/// <summary>How the failover controller runs.</summary>
public sealed record GroupsOptions
{
    /// <summary>Longest pause between two decision passes when no report arrives. Default 50 ms; reports wake it at once.</summary>
    public TimeSpan ControllerTick { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>How long a planned switchover waits for the candidate to catch up before it gives up and changes nothing. Default 10 s.</summary>
    public TimeSpan SwitchoverTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long a position round waits for every member's answer before deciding on the answers it has (a member that did not
    /// answer is never a candidate). Agents are woken at once by the round, so answers normally take a few milliseconds; the
    /// wait only matters when an agent is dead, stopped or cut off. Default 1 s.
    /// </summary>
    public TimeSpan PositionWait { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest a status long-poll may wait. Default 30 s.</summary>
    public TimeSpan MaxWatchWait { get; init; } = TimeSpan.FromSeconds(30);
}
