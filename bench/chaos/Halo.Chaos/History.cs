namespace Halo.Chaos;

public enum WriteOutcome
{
    /// <summary>SET answered OK and WAIT confirmed a replica holds it: must survive.</summary>
    Acked,
    /// <summary>Refused (an error reply, or never sent): must not be present.</summary>
    Failed,
    /// <summary>Sent, but the answer was lost or WAIT confirmed no replica: may or may not be present.</summary>
    Indeterminate,
}

/// <summary>
/// One write of the workload: a unique key and value, the member that answered (CLIENT INFO on the connection, as the proxy
/// routed it), when it was sent and answered (wall clock of this host, the clock the server's events use too).
/// </summary>
public sealed record WriteRecord(long Id, int Writer, string? Member, DateTimeOffset Start, DateTimeOffset End, WriteOutcome Outcome, string? Detail = null);

/// <summary>A leadership change as the store recorded it: <paramref name="Member"/> became primary of <paramref name="Epoch"/> at <paramref name="DecidedAt"/>.</summary>
public sealed record EpochRecord(long Epoch, string Member, DateTimeOffset DecidedAt);

/// <summary>One defect, with the writes that show it.</summary>
public sealed record Defect(string Kind, string Detail);

public sealed record CheckResult(IReadOnlyList<Defect> Lost, IReadOnlyList<Defect> Unexpected, IReadOnlyList<Defect> SplitBrains)
{
    public bool Clean => Lost.Count == 0 && Unexpected.Count == 0 && SplitBrains.Count == 0;
}
