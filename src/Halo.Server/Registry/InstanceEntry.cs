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
}
