namespace Halo.Core.Monitoring;

/// <summary>What a member (an instance of a service, a node of a group) was doing from a point in time on.</summary>
public enum MemberState
{
    /// <summary>Serving: passing or merely suspect (still routed).</summary>
    Up,

    /// <summary>Judged failed: critical, or a group without a primary.</summary>
    Down,

    /// <summary>No longer a member (deregistered or removed): its time stops counting.</summary>
    Gone,
}

/// <summary>One observed change: from <paramref name="Time"/> on, <paramref name="Member"/> of <paramref name="Subject"/> was <paramref name="State"/>.</summary>
public readonly record struct MemberStateChange(DateTimeOffset Time, string Subject, string Member, MemberState State);

/// <summary>
/// Measured availability of one subject (service or group) over a window.
/// <see cref="Availability"/> is up-time over observed time; null when the subject was never observed in the window.
/// </summary>
public sealed record SubjectAvailability
{
    public required string Subject { get; init; }

    /// <summary>Time in the window during which the subject had at least one member.</summary>
    public required TimeSpan Observed { get; init; }

    /// <summary>Observed time during which fewer than the minimum number of members were up.</summary>
    public required TimeSpan Down { get; init; }

    /// <summary>Separate periods of down time that overlap the window.</summary>
    public required int Outages { get; init; }

    /// <summary>The longest of those periods, clipped to the window.</summary>
    public required TimeSpan LongestOutage { get; init; }

    /// <summary>(Observed − Down) / Observed, or null when nothing was observed.</summary>
    public double? Availability => Observed > TimeSpan.Zero ? (Observed - Down) / Observed : null;

    /// <summary>Member-time up over member-time observed: how much of the fleet was serving on average.</summary>
    public double? MemberAvailability { get; init; }
}
