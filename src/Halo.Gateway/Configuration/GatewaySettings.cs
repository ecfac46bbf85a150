using System.Net;
using Halo.Core.Balancing;

namespace Halo.Gateway.Configuration;

/// <summary>Validated, immutable gateway configuration.</summary>
public sealed record GatewaySettings(
    IPEndPoint Listen,
    IReadOnlyList<Uri> Servers,
    string MetricsPath,
    IReadOnlyList<RouteSettings> Routes,
    IReadOnlyDictionary<string, ClusterSettings> Clusters)
{
    /// <summary>Longest reconnect delay for the change feed (backoff starts at 100 ms or this, whichever is less). Default 1 s.</summary>
    public TimeSpan FeedRetry { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How the gateway reaches the control plane (token, TLS, timeouts); null means <see cref="Servers"/> with defaults.
    /// `halo gateway` sets it from --server/--token/... and the environment (HaloClientOptionsBuilder).
    /// </summary>
    public Halo.Client.HaloClientOptions? Client { get; init; }

    /// <summary>
    /// Peers whose X-Forwarded-* headers are kept (appended to) rather than replaced: the load balancers in front of the
    /// gateway (<c>trustedProxies</c>: addresses or CIDR networks). Default none: every client's are replaced.
    /// </summary>
    public IReadOnlyList<IPNetwork> TrustedProxies { get; init; } = [];

    /// <summary>Where /metrics is served instead of the proxy listener (<c>adminListen</c>). Default null: on the proxy listener.</summary>
    public IPEndPoint? AdminListen { get; init; }

    /// <summary>The file's tls section (paths, unchecked): the CLI turns it and the --tls-* flags into <see cref="Https"/>. Default null.</summary>
    public Halo.Core.Configuration.TlsConfig? Tls { get; init; }

    /// <summary>HTTPS for the listener (certificate selector, client certificates). Default null: plain HTTP.</summary>
    public Action<Microsoft.AspNetCore.Server.Kestrel.Https.HttpsConnectionAdapterOptions>? Https { get; init; }

    /// <summary>The client options in force: <see cref="Client"/>, or <see cref="Servers"/> with defaults.</summary>
    public Halo.Client.HaloClientOptions ClientOptions => Client ?? new Halo.Client.HaloClientOptions { Servers = Servers };

    /// <summary>True when some cluster follows the registry, so the change feed is needed.</summary>
    public bool UsesRegistry => Clusters.Values.Any(c => c.Pools.Any(p => p.Service is not null));
}

/// <summary>A validated route.</summary>
public sealed record RouteSettings(string? Host, string PathPrefix, string Cluster);

/// <summary>Where a consistent-hash key comes from.</summary>
public enum HashSource
{
    /// <summary>Client IP address.</summary>
    Ip,
    /// <summary>A request header.</summary>
    Header,
    /// <summary>A cookie.</summary>
    Cookie,
}

/// <summary>A validated cluster.</summary>
public sealed record ClusterSettings(
    string Name,
    IReadOnlyList<PoolSettings> Pools,
    PolicyKind Policy,
    HashSource HashOn,
    string? HashName,
    double HashLoadFactor,
    ActiveHealthSettings? Active,
    OutlierOptions Outlier,
    int PanicThresholdPercent,
    TimeSpan SlowStart,
    RetrySettings Retry,
    TimeSpan ConnectTimeout,
    BackendTls? Tls = null)
{
    /// <summary>True when some backend is reached over HTTPS (the fast path, plain TCP, leaves these to YARP).</summary>
    public bool Https { get; } = Tls is not null || Pools.Any(p => p.Destinations.Any(d => d.Url.Scheme == Uri.UriSchemeHttps));
}

/// <summary>
/// Validated clusters.NAME.tls: the pinned CA roots and the optional client certificate, loaded once at start-up, applied
/// to every connection the gateway opens to the cluster's backends (proxying and active probes).
/// </summary>
public sealed record BackendTls(System.Security.Cryptography.X509Certificates.X509Certificate2Collection Roots,
    System.Security.Cryptography.X509Certificates.X509Certificate2? ClientCertificate)
{
    /// <summary>Pins <see cref="Roots"/> and presents <see cref="ClientCertificate"/> on <paramref name="ssl"/>.</summary>
    public void Apply(System.Net.Security.SslClientAuthenticationOptions ssl)
    {
        ArgumentNullException.ThrowIfNull(ssl);
        Halo.Client.HaloHttp.PinnedTls(Roots, ClientCertificate)(ssl);
    }
}

/// <summary>A validated pool: a registry service (and zone) or static destinations.</summary>
public sealed record PoolSettings(string? Service, string? Zone, IReadOnlyList<StaticDestination> Destinations);

/// <summary>A validated static destination.</summary>
public sealed record StaticDestination(string Name, Uri Url, int Weight);

/// <summary>Validated active probe settings.</summary>
public sealed record ActiveHealthSettings(string Path, TimeSpan Interval, TimeSpan FastInterval, TimeSpan Timeout, int Rise, int Fall);

/// <summary>Validated retry settings.</summary>
public sealed record RetrySettings(
    int Attempts,
    TimeSpan PerTryTimeout,
    double BudgetRatio,
    int MinRetriesPerSecond,
    int MaxReplayBodyBytes,
    string? IdempotencyHeader,
    IReadOnlySet<int> OnStatus,
    AdaptiveTimeoutSettings? Adaptive = null);

/// <summary>Validated latency-derived per-try timeout: clamp(multiplier × latency estimate, min, perTryTimeout).</summary>
public sealed record AdaptiveTimeoutSettings(double Multiplier, TimeSpan Min);
