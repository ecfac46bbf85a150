using Halo.Core.Detection;

namespace Halo.Core.Configuration;

/// <summary>Halo's configuration file as a whole: control plane, per-service overrides, stateful groups, gateway.</summary>
public sealed record HaloConfig
{
    public ServerConfig Server { get; init; } = new();

    /// <summary>Per-service settings by service name; a service not listed uses the server's detector.</summary>
    public IReadOnlyDictionary<string, ServiceConfig> Services { get; init; } = new Dictionary<string, ServiceConfig>();

    /// <summary>Primary/replica groups by name.</summary>
    public IReadOnlyDictionary<string, GroupConfig> Groups { get; init; } = new Dictionary<string, GroupConfig>();

    public GatewayConfig Gateway { get; init; } = new();
}

/// <summary>The control plane.</summary>
public sealed record ServerConfig
{
    /// <summary>HTTP listen address. Default 127.0.0.1:7400 (loopback unless told otherwise).</summary>
    public string Listen { get; init; } = "127.0.0.1:7400";

    /// <summary>Directory of the embedded store. Default ./.halo/data.</summary>
    public string Data { get; init; } = "./.halo/data";

    /// <summary>Detector for every service that does not override it.</summary>
    public DetectorOptions Detector { get; init; } = new();

    /// <summary>Where the control-plane state lives. Default <see cref="StoreKind.Embedded"/> (SQLite under <see cref="Data"/>).</summary>
    public StoreKind Store { get; init; } = StoreKind.Embedded;

    /// <summary>With <see cref="StoreKind.Etcd"/>: every member's client URL, comma-separated (http://a:2379,http://b:2379). Default none.</summary>
    public string? Etcd { get; init; }

    /// <summary>With https:// <see cref="Etcd"/> endpoints: PEM CA file their certificates must chain to (pinned). Default none: the system trust store.</summary>
    public string? EtcdCa { get; init; }

    /// <summary>PEM client certificate presented to etcd (etcd's --client-cert-auth). Default none.</summary>
    public string? EtcdCert { get; init; }

    /// <summary>PEM private key of <see cref="EtcdCert"/>. Default none (the key may sit in the certificate's file).</summary>
    public string? EtcdKey { get; init; }

    /// <summary>
    /// The address other servers and clients reach this server at, host:port, when it differs from <see cref="Listen"/>
    /// (listening on 0.0.0.0, behind NAT, in a pod). Default: the address it listens on.
    /// </summary>
    public string? Advertise { get; init; }

    /// <summary>
    /// With several servers: the TTL of each server's membership lease, so the time after a server dies before its
    /// instances move to the others. Default 5 s; range 2 s (etcd's minimum lease) – 60 s.
    /// </summary>
    public TimeSpan MemberTtl { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Caps on streams, request rates, connections and headers (docs/security.md). Default: <see cref="LimitOptions"/>'s.</summary>
    public LimitOptions Limits { get; init; } = new();

    /// <summary>
    /// Networks server-run checks may reach (server.checks.allowedNetworks: CIDR networks or addresses; docs/security.md).
    /// Default null: loopback plus the networks the server listens on.
    /// </summary>
    public IReadOnlyList<string>? CheckNetworks { get; init; }

    /// <summary>
    /// server.registrations.ownAddressOnly: a register token may register only its connection's own address
    /// (docs/security.md). Default false.
    /// </summary>
    public bool OwnAddressOnly { get; init; }

    /// <summary>HTTPS for the API (server.tls; docs/security.md). Default null: plain HTTP.</summary>
    public TlsConfig? Tls { get; init; }
}

/// <summary>Which store a control-plane server runs on.</summary>
public enum StoreKind
{
    /// <summary>SQLite in the data directory: one server, the default for one machine.</summary>
    Embedded,

    /// <summary>An etcd cluster shared by any number of servers.</summary>
    Etcd,
}

/// <summary>One service's overrides.</summary>
public sealed record ServiceConfig
{
    /// <summary>Detector for this service; fields not given fall back to the server's detector.</summary>
    public DetectorOptions Detector { get; init; } = new();
}

/// <summary>
/// A primary/replica group. The primary holds a lease it renews; when the lease lapses the failover
/// controller promotes the most up-to-date eligible replica and the gateway re-routes.
/// </summary>
public sealed record GroupConfig
{
    /// <summary>Primary lease TTL. Default 2 s; range 100 ms – 10 min; must exceed <see cref="RenewInterval"/>.</summary>
    public TimeSpan LeaseTtl { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How often the primary renews its lease. Default 500 ms; range 10 ms – 5 min; below <see cref="LeaseTtl"/>.</summary>
    public TimeSpan RenewInterval { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Failover controller tick. Default 100 ms; range 10 ms – 1 min.</summary>
    public TimeSpan ControllerInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>A replica further behind than this is not eligible for promotion. Default 1 MiB; range 0 – 1 TiB.</summary>
    public long MaxLagBytes { get; init; } = 1_048_576;

    /// <summary>Longest wait for a chosen replica to report it has promoted. Default 2 s; range 100 ms – 10 min.</summary>
    public TimeSpan PromoteTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Promised time for gateways to route to the new primary after the epoch change. Default 200 ms; range 0 – 1 min.</summary>
    public TimeSpan RerouteBound { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The agents' driver: redis (default), postgres or exec. PostgreSQL adds its own terms (final WAL positions, standby re-attach).</summary>
    public string Driver { get; init; } = "redis";

    /// <summary>Synchronous replication (PostgreSQL): off (default), preferred or strict.</summary>
    public Failover.SynchronousMode Synchronous { get; init; }

    /// <summary>The agents' probe and report interval. Default 100 ms; range 10 ms – 10 s. A crashed database is seen within it.</summary>
    public TimeSpan AgentInterval { get; init; } = TimeSpan.FromMilliseconds(100);
}

/// <summary>The data plane.</summary>
/// <summary>
/// HTTPS for a listener, as written in the config file: PEM file paths (read and checked when the listener starts) and
/// whether callers must present a client certificate.
/// </summary>
public sealed record TlsConfig
{
    /// <summary>PEM certificate (chain) file. Required.</summary>
    public string? Certificate { get; init; }

    /// <summary>PEM private key of <see cref="Certificate"/>. Required.</summary>
    public string? Key { get; init; }

    /// <summary>require, allow or none (the default): whether callers present a certificate chaining to <see cref="ClientCa"/>.</summary>
    public string? ClientCertificates { get; init; }

    /// <summary>PEM CA bundle client certificates must chain to; required unless client certificates are none.</summary>
    public string? ClientCa { get; init; }
}

public sealed record GatewayConfig
{
    /// <summary>Delay before reconnecting to the change feed after a disconnect. Default 1 s; range 10 ms – 5 min.</summary>
    public TimeSpan FeedRetry { get; init; } = TimeSpan.FromSeconds(1);
}
