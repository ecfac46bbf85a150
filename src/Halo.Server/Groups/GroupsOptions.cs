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

    /// <summary>
    /// How long a server that takes over deciding a group (another server died, left or joined) decides nothing, so that the
    /// members' agents reach it first: an agent whose server died moves to the next one at its next report (every 100 ms by
    /// default), and reports reach the decider from any server. Until then it sees members that have not reported to it yet,
    /// and a decision would rest on what it does not know. Default 2 s.
    /// </summary>
    public TimeSpan HandoffGrace { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Longest a status long-poll may wait. Default 30 s.</summary>
    public TimeSpan MaxWatchWait { get; init; } = TimeSpan.FromSeconds(30);
}
