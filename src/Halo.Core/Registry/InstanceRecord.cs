using Halo.Core.Detection;

namespace Halo.Core.Registry;

/// <summary>A registered instance as stored, served by the API and carried by the change feed.</summary>
public sealed record InstanceRecord
{
    public required string Service { get; init; }
    public required string Id { get; init; }
    public required string Address { get; init; }
    public int Port { get; init; }
    public int Weight { get; init; } = 100;
    public string? Zone { get; init; }
    public IReadOnlyList<string> Tags { get; init; } = [];
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();

    /// <summary>The heartbeat period the instance promised; the detector's interval.</summary>
    public TimeSpan Ttl { get; init; } = TimeSpan.FromSeconds(1);

    public HealthCheckSpec? Check { get; init; }

    /// <summary>The detector this instance chose at registration; null means the server's setting for its service.</summary>
    public DetectorOptions? Detector { get; init; }

    public HealthStatus Health { get; init; } = HealthStatus.Passing;
    public bool Draining { get; init; }
    public DateTimeOffset RegisteredAt { get; init; }

    /// <summary>The store revision of this version of the record (0 before it is stored).</summary>
    public long Revision { get; init; }

    /// <summary>Last heartbeat the serving node saw. A view field: never stored, since heartbeats live in memory.</summary>
    public DateTimeOffset? LastHeartbeat { get; init; }
}

public enum CheckType
{
    Http,
    Tcp,
}

/// <summary>An active check the server runs against the instance; each pass counts as a heartbeat.</summary>
public sealed record HealthCheckSpec
{
    public CheckType Type { get; init; } = CheckType.Http;

    /// <summary>HTTP checks: the path requested; a 2xx answer passes. Default "/healthz".</summary>
    public string Path { get; init; } = "/healthz";

    /// <summary>Default 5 s; range 100 ms – 1 h.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Default 1 s; must be shorter than the interval.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(1);
}
