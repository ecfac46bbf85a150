#pragma warning disable CA2227 // Settable collections: these are deserialisation targets for YamlDotNet, validated into immutable settings.
namespace Halo.Gateway.Configuration;

/// <summary>The gateway config file as written (YAML or JSON). <see cref="GatewayConfigLoader"/> validates it into <see cref="GatewaySettings"/>.</summary>
public sealed class GatewayConfigFile
{
    /// <summary>Listen address, host:port. Overridden by --listen.</summary>
    public string? Listen { get; set; }

    /// <summary>Control plane base URL. Overridden by --server.</summary>
    public string? Server { get; set; }

    /// <summary>Longest wait before reconnecting to a lost change feed (retries start at 100 ms and double up to this). Default 1s.</summary>
    public string? FeedRetry { get; set; }

    /// <summary>Path of the Prometheus endpoint served by the gateway itself. Default /metrics.</summary>
    public string? MetricsPath { get; set; }

    /// <summary>Addresses or CIDR networks of proxies in front whose X-Forwarded-* headers are kept. Default none.</summary>
    public string[]? TrustedProxies { get; set; }

    /// <summary>host:port of a separate listener for /metrics (keeps it off the public port). Default: none, /metrics on the proxy listener.</summary>
    public string? AdminListen { get; set; }

    /// <summary>HTTPS for the listener (docs/security.md); overridden field by field by --tls-cert, --tls-key, ... Default: plain HTTP.</summary>
    public TlsFileConfig? Tls { get; set; }

    /// <summary>Routes, matched most specific first (exact host before any host, longer path prefix first).</summary>
    public RouteConfig[]? Routes { get; set; }

    /// <summary>Clusters by name.</summary>
    public Dictionary<string, ClusterConfig>? Clusters { get; set; }
}

/// <summary>The listener's TLS as written: PEM files (read when the gateway starts, reloaded on change) and client certificates.</summary>
public sealed class TlsFileConfig
{
    /// <summary>PEM certificate (chain) file.</summary>
    public string? Certificate { get; set; }

    /// <summary>PEM private key of the certificate.</summary>
    public string? Key { get; set; }

    /// <summary>require, allow or none (default): whether clients present a certificate chaining to <see cref="ClientCa"/>.</summary>
    public string? ClientCertificates { get; set; }

    /// <summary>PEM CA bundle client certificates must chain to.</summary>
    public string? ClientCa { get; set; }
}

/// <summary>One route: host and path prefix to a cluster.</summary>
public sealed class RouteConfig
{
    /// <summary>Host to match (case-insensitive, port ignored); null or "*" matches any.</summary>
    public string? Host { get; set; }

    /// <summary>Path prefix to match. Default "/".</summary>
    public string? Path { get; set; }

    /// <summary>Name of the cluster that serves the route.</summary>
    public string? Cluster { get; set; }
}

/// <summary>A cluster: its pools of destinations and how traffic is spread, checked and retried.</summary>
public sealed class ClusterConfig
{
    /// <summary>Shorthand for a single pool backed by a registry service.</summary>
    public string? Service { get; set; }

    /// <summary>Shorthand for a single pool of static destinations.</summary>
    public DestinationConfig[]? Destinations { get; set; }

    /// <summary>Pools in priority order: the first is primary, the rest are backups.</summary>
    public PoolConfig[]? Pools { get; set; }

    /// <summary>round-robin, weighted-round-robin, least-requests, p2c, peak-ewma (default), consistent-hash, random.</summary>
    public string? Policy { get; set; }

    /// <summary>Consistent-hash key settings.</summary>
    public HashConfig? Hash { get; set; }

    /// <summary>Health settings.</summary>
    public HealthConfig? Health { get; set; }

    /// <summary>Retry settings.</summary>
    public RetryConfig? Retry { get; set; }

    /// <summary>TCP connect timeout to a destination. Default 1s.</summary>
    public string? ConnectTimeout { get; set; }

    /// <summary>TLS to this cluster's backends: https:// destinations (registry instances too) with a pinned CA. Default none.</summary>
    public BackendTlsConfig? Tls { get; set; }
}

/// <summary>clusters.NAME.tls: how the gateway reaches the cluster's backends over HTTPS.</summary>
public sealed class BackendTlsConfig
{
    /// <summary>PEM CA the backends' certificates must chain to (pinned instead of the system trust store). Required.</summary>
    public string? Ca { get; set; }

    /// <summary>PEM client certificate the gateway presents to backends that require one. Default none.</summary>
    public string? Certificate { get; set; }

    /// <summary>PEM private key of <see cref="Certificate"/> (may sit in its file). Default none.</summary>
    public string? Key { get; set; }
}

/// <summary>A pool: a registry service (optionally one zone of it) or static destinations.</summary>
public sealed class PoolConfig
{
    /// <summary>Registry service name.</summary>
    public string? Service { get; set; }

    /// <summary>Only instances in this zone.</summary>
    public string? Zone { get; set; }

    /// <summary>Static destinations.</summary>
    public DestinationConfig[]? Destinations { get; set; }
}

/// <summary>A static destination.</summary>
public sealed class DestinationConfig
{
    /// <summary>Base URL, http://host:port.</summary>
    public string? Url { get; set; }

    /// <summary>Weight, 1 – 10000. Default 100 (the registry's default).</summary>
    public int? Weight { get; set; }

    /// <summary>Optional stable name; defaults to the URL.</summary>
    public string? Name { get; set; }
}

/// <summary>Where the consistent-hash key comes from.</summary>
public sealed class HashConfig
{
    /// <summary>ip (default), header or cookie.</summary>
    public string? On { get; set; }

    /// <summary>Header or cookie name.</summary>
    public string? Name { get; set; }

    /// <summary>Bounded-load factor 1+ε, ≥ 1 (0 disables). Default 1.25.</summary>
    public double? LoadFactor { get; set; }
}

/// <summary>Health settings.</summary>
public sealed class HealthConfig
{
    /// <summary>Active probes; absent means none.</summary>
    public ActiveHealthConfig? Active { get; set; }

    /// <summary>Passive outlier detection.</summary>
    public PassiveHealthConfig? Passive { get; set; }

    /// <summary>Percent healthy below which health is ignored (panic). Default 50; 0 disables.</summary>
    public int? PanicThreshold { get; set; }

    /// <summary>Slow-start window for new and recovered destinations. Default 0 (off).</summary>
    public string? SlowStart { get; set; }
}

/// <summary>Active probe settings.</summary>
public sealed class ActiveHealthConfig
{
    /// <summary>Probe path. Default /healthz.</summary>
    public string? Path { get; set; }

    /// <summary>Probe interval. Default 1s.</summary>
    public string? Interval { get; set; }

    /// <summary>Interval while a destination is between states. Default 250ms.</summary>
    public string? FastInterval { get; set; }

    /// <summary>Probe timeout. Default 500ms.</summary>
    public string? Timeout { get; set; }

    /// <summary>Consecutive successes to become healthy. Default 2.</summary>
    public int? Rise { get; set; }

    /// <summary>Consecutive failures to become unhealthy. Default 2.</summary>
    public int? Fall { get; set; }
}

/// <summary>Passive outlier detection settings.</summary>
public sealed class PassiveHealthConfig
{
    /// <summary>Consecutive failures that eject. Default 3.</summary>
    public int? ConsecutiveFailures { get; set; }

    /// <summary>First ejection length. Default 2s.</summary>
    public string? BaseEjectionTime { get; set; }

    /// <summary>Longest ejection. Default 60s.</summary>
    public string? MaxEjectionTime { get; set; }

    /// <summary>Largest share of a pool ejected at once, percent. Default 50.</summary>
    public int? MaxEjectionPercent { get; set; }
}

/// <summary>Retry settings.</summary>
public sealed class RetryConfig
{
    /// <summary>Total tries including the first. Default 3; 1 disables retries.</summary>
    public int? Attempts { get; set; }

    /// <summary>Per-try timeout (no response activity for this long). Default 1s.</summary>
    public string? PerTryTimeout { get; set; }

    /// <summary>Retry budget as a share of requests. Default 0.2.</summary>
    public double? BudgetRatio { get; set; }

    /// <summary>Retries always allowed per second. Default 10.</summary>
    public int? MinRetriesPerSecond { get; set; }

    /// <summary>Largest request body buffered so it can be replayed. Default 65536 bytes.</summary>
    public int? MaxReplayBodyBytes { get; set; }

    /// <summary>A header that marks a non-idempotent request safe to retry. Default Idempotency-Key.</summary>
    public string? IdempotencyHeader { get; set; }

    /// <summary>Response statuses retried. Default [502, 503, 504].</summary>
    public int[]? OnStatus { get; set; }

    /// <summary>Derive each try's timeout from the destination's observed latency; absent means fixed.</summary>
    public AdaptiveTimeoutConfig? AdaptiveTimeout { get; set; }
}

/// <summary>Latency-derived per-try timeout: multiplier × the destination's peak-EWMA latency, within [min, perTryTimeout].</summary>
public sealed class AdaptiveTimeoutConfig
{
    /// <summary>Multiple of the latency estimate. Default 5; range 1 – 100.</summary>
    public double? Multiplier { get; set; }

    /// <summary>Floor, so an idle destination's decayed estimate does not make the timeout tiny. Default 50ms.</summary>
    public string? Min { get; set; }
}
