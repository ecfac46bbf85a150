using Halo.Core.Detection;
using Halo.Core.Registry;

namespace Halo.Server.Registry;

/// <summary>
/// The live state of one instance on this server: the published record (swapped whole, never mutated)
/// and the detector that judges it. Heartbeats touch only the detector; the store sees health transitions.
/// </summary>
internal sealed class InstanceEntry(InstanceRecord record, DetectorOptions detector, CallerEvidenceOptions callers, DateTimeOffset since)
{
    private InstanceRecord _record = record;

    public InstanceRecord Record
    {
        get => Volatile.Read(ref _record);
        set => Volatile.Write(ref _record, value);
    }

    public DetectorOptions Detector { get; } = detector;

    public InstanceHealth Health { get; } = new(detector, since);

    /// <summary>What callers (gateways) report about requests to this instance; in memory, like heartbeats.</summary>
    public CallerReports Callers { get; } = new(callers);

    /// <summary>When the detector loop last observed this instance (hysteresis counts observations at the configured interval).</summary>
    public DateTimeOffset LastEvaluated { get; set; } = since;

    /// <summary>The detector's most recent transition, kept as the evidence for what is published.</summary>
    public HealthTransition? LastTransition { get; set; }

    /// <summary>True while the published health is worse than the detector's because callers report failures.</summary>
    public bool HeldByCallers { get; set; }

    /// <summary>When the next active check is due; 0 until scheduled.</summary>
    public DateTimeOffset NextCheckAt { get; set; }

    public int CheckRunning;
}
