namespace Halo.Server.Groups;

/// <summary>How the failover controller runs.</summary>
public sealed record GroupsOptions
{
    /// <summary>Longest pause between two decision passes when no report arrives. Default 50 ms; reports wake it at once.</summary>
    public TimeSpan ControllerTick { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>How long a planned switchover waits for the candidate to catch up before it gives up and changes nothing. Default 10 s.</summary>
    public TimeSpan SwitchoverTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// After a failure is detected, how long the controller waits for every candidate to report once more, so it ranks them
    /// by their final replication offsets rather than ones up to an agent interval old. Default 300 ms; agents are woken at
    /// once by the status change, so this is normally a few milliseconds.
    /// </summary>
    public TimeSpan CandidateReportWait { get; init; } = TimeSpan.FromMilliseconds(300);

    /// <summary>Longest a status long-poll may wait. Default 30 s.</summary>
    public TimeSpan MaxWatchWait { get; init; } = TimeSpan.FromSeconds(30);
}
