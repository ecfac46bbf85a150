using Halo.Core.Balancing;
using Halo.Core.Detection;
using Halo.Gateway.Proxy.Http1;

namespace Halo.Gateway.Routing;

/// <summary>
/// Long-lived state of one destination in one cluster: load signals, passive and active health,
/// registry verdict and failure counts for reports. Survives routing-table swaps (keyed by identity,
/// address and weight) so a feed update does not forget that a backend was just ejected.
/// </summary>
public sealed class DestinationRuntime
{
    private volatile HealthStatus _registry;
    private volatile bool _draining;
    private int _activeState; // 0 unknown, 1 healthy, 2 unhealthy
    private readonly CallerCounts _counts = new();

    /// <summary>Creates the runtime state.</summary>
    public DestinationRuntime(string key, string name, Uri address, string? service, string? instanceId, BalancingDestination balancing, OutlierDetector outlier, long createdTimestamp)
    {
        Key = key;
        Name = name;
        Prefix = address.GetLeftPart(UriPartial.Authority);
        Address = address;
        Service = service;
        InstanceId = instanceId;
        Balancing = balancing;
        Outlier = outlier;
        HealthySince = createdTimestamp;
        WasHealthy = true;
        Connections = new BackendConnectionPool(address);
    }

    /// <summary>Identity within the cluster (name, address and weight).</summary>
    public string Key { get; }

    /// <summary>Name used in logs and metrics: "service/id" or the static name.</summary>
    public string Name { get; }

    /// <summary>Forwarding prefix, http://host:port.</summary>
    public string Prefix { get; }

    /// <summary>Base address.</summary>
    public Uri Address { get; }

    /// <summary>Registry service, null for static destinations.</summary>
    public string? Service { get; }

    /// <summary>Registry instance id, null for static destinations.</summary>
    public string? InstanceId { get; }

    /// <summary>The view the balancing policies use.</summary>
    public BalancingDestination Balancing { get; }

    /// <summary>Kept-alive connections of the HTTP/1.1 fast path (created on first use, closed when the destination leaves).</summary>
    internal BackendConnectionPool Connections { get; }

    /// <summary>Passive outlier detection state.</summary>
    public OutlierDetector Outlier { get; }

    /// <summary>Registry verdict (static destinations stay <see cref="HealthStatus.Passing"/>).</summary>
    public HealthStatus Registry { get => _registry; set => _registry = value; }

    /// <summary>True when the instance is draining: no new requests, in-flight ones finish.</summary>
    public bool Draining { get => _draining; set => _draining = value; }

    /// <summary>Active probe verdict: null until the first verdict (treated as healthy), then true/false.</summary>
    public bool? ActiveHealthy
    {
        get => Volatile.Read(ref _activeState) switch { 1 => true, 2 => false, _ => null };
        set => Volatile.Write(ref _activeState, value switch { true => 1, false => 2, null => 0 });
    }

    /// <summary>Probe bookkeeping, touched only by the probe loop.</summary>
    internal ProbeCounters Probe { get; } = new();

    /// <summary>When the destination last became healthy (timestamp), for slow start.</summary>
    internal long HealthySince { get; set; }

    /// <summary>Health at the previous refresh, to detect recoveries.</summary>
    internal bool WasHealthy { get; set; }

    /// <summary>Combined verdict of registry, active probes and passive outlier detection (draining excluded).</summary>
    public bool IsHealthy => !_draining && _registry != HealthStatus.Critical && Volatile.Read(ref _activeState) != 2 && !Outlier.IsEjected;

    /// <summary>Counts an attempt and its failure kind for the next report to the server.</summary>
    internal void CountAttempt(FailureKind kind) => _counts.Count(kind);

    /// <summary>Takes and resets the counts since the last report.</summary>
    internal FailureCounts TakeCounts() => _counts.Take();

    /// <inheritdoc />
    public override string ToString() => Name;
}

/// <summary>Consecutive probe outcomes and schedule.</summary>
internal sealed class ProbeCounters
{
    public int Successes;
    public int Failures;
    public long NextDue;
    public int Running;
}
