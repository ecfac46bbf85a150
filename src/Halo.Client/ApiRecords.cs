using Halo.Core.Registry;

namespace Halo.Client;

/// <summary>One service in GET /v1/services.</summary>
public sealed record ServiceSummary(string Name, int Instances, int Passing, int Suspect, int Critical, int Draining, bool BrakeEngaged, string? DetectionBound = null);

/// <summary>GET /v1/services.</summary>
public sealed record ServiceList(long Revision, IReadOnlyList<ServiceSummary> Services);

/// <summary>GET /v1/services/{service}/instances.</summary>
public sealed record InstanceList(string Service, long Revision, IReadOnlyList<InstanceRecord> Instances);

/// <summary>GET /v1/catalog: every instance at one store revision.</summary>
public sealed record Catalog(long Revision, IReadOnlyList<InstanceRecord> Instances);

/// <summary>GET /v1/events.</summary>
public sealed record EventList(IReadOnlyList<RegistryEvent> Events);

/// <summary>
/// Body of POST /v1/services/{service}/instances/{id}/reports: what a caller (a gateway, an application using discovery)
/// saw of its requests to one instance over a window (docs/gateway.md).
/// </summary>
/// <param name="Reporter">Who observed it, e.g. "gateway@127.0.0.1:7480".</param>
/// <param name="Cluster">The caller's name for the pool that routed the requests, if any.</param>
/// <param name="Window">Length of the observation window.</param>
/// <param name="Requests">Attempts sent to the instance in the window.</param>
/// <param name="Failures">Attempts that failed (the sum of the three kinds).</param>
/// <param name="ConnectFailures">Refused, reset or broken connections.</param>
/// <param name="Timeouts">No response in time.</param>
/// <param name="ServerErrors">5xx answers.</param>
/// <param name="Ejected">Whether the caller currently ejects the instance.</param>
public sealed record CallerReport(string Reporter, string? Cluster, TimeSpan Window, long Requests, long Failures,
    long ConnectFailures, long Timeouts, long ServerErrors, bool Ejected);

/// <summary>The server's answer to a caller report: its current verdict on the instance.</summary>
public sealed record CallerVerdictView(bool Failing, long Requests, long Failures, IReadOnlyList<string> Reporters);
