using Halo.Core.Detection;
using Halo.Core.Registry;

namespace Halo.Server.Registry;

/// <summary>
/// One instance on this server: its stored record (swapped whole, never mutated; the same on every server) and, while this
/// server owns its service, its <see cref="Liveness"/>. Only its <see cref="ServiceShard"/> changes either.
/// </summary>
internal sealed class InstanceEntry(InstanceRecord record)
{
    private InstanceRecord _record = record;
    private Liveness? _liveness;

    public InstanceRecord Record
    {
        get => Volatile.Read(ref _record);
        set => Volatile.Write(ref _record, value);
    }

    /// <summary>The detector state while this server judges the instance; null otherwise.</summary>
    public Liveness? Liveness
    {
        get => Volatile.Read(ref _liveness);
        set => Volatile.Write(ref _liveness, value);
    }
}

/// <summary>
/// What the owner of an instance knows about it beyond the store: heartbeats and caller reports (in memory, never written),
/// the detector's state machine and the loop's bookkeeping. Created afresh each time ownership arrives (a grace period).
/// </summary>
internal sealed class Liveness(DetectorOptions detector, InstanceHealth health, CallerEvidenceOptions callers)
{
    public DetectorOptions Detector { get; } = detector;

    public InstanceHealth Health { get; } = health;

    /// <summary>What callers (gateways) report about requests to this instance.</summary>
    public CallerReports Callers { get; } = new(callers);

    /// <summary>When the detector last evaluated this instance (hysteresis counts observations at the configured interval).</summary>
    public DateTimeOffset LastEvaluated { get; set; }

    /// <summary>The detector's most recent transition, kept as the evidence for what is published.</summary>
    public HealthTransition? LastTransition { get; set; }

    /// <summary>True while the published health is worse than the detector's because callers report failures.</summary>
    public bool HeldByCallers { get; set; }

    /// <summary>When the next active check is due; default until scheduled.</summary>
    public DateTimeOffset NextCheckAt { get; set; }

    public int CheckRunning;

    // The detector loop's bookkeeping (DueSchedule). Queued and Retired are written by other threads, RawCritical is read
    // by heartbeats; the rest belongs to the loop alone.

    /// <summary>1 while waiting in the schedule's hand-in queue.</summary>
    public int Queued;

    /// <summary>Set (under the shard's lock) when this detector state is dropped: the instance left, or its detector changed.</summary>
    public volatile bool Retired;

    /// <summary>The raw verdict at the last look is Critical (counted for the brake); a heartbeat then hands the instance in.</summary>
    public volatile bool RawCritical;

    /// <summary>The raw verdict at the last look.</summary>
    public HealthStatus Raw { get; set; }

    /// <summary>When, without a heartbeat, the raw verdict seen at the last look turns worse.</summary>
    public DateTimeOffset WorsensAt { get; set; }

    /// <summary>UTC ticks of the next scheduled look (older queued looks are stale).</summary>
    public long DueAt { get; set; }

    /// <summary>Counted in the schedule's total.</summary>
    public bool Tracked { get; set; }

    /// <summary>The last tick that visited it (so a tick visits it once).</summary>
    public long VisitTick { get; set; }
}
