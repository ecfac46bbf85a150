using Halo.Core.Detection;
using Halo.Server.Alerts;

namespace Halo.Server;

/// <summary>How a control-plane server runs. Every default is safe for a single machine.</summary>
public sealed record ServerOptions
{
    /// <summary>Where the HTTP API listens. Default http://127.0.0.1:7400; use port 0 for any free port.</summary>
    public string Listen { get; init; } = "http://127.0.0.1:7400";

    /// <summary>Directory of the embedded store. Default ./.halo/data.</summary>
    public string DataDirectory { get; init; } = Path.Combine(".halo", "data");

    /// <summary>Which store the server runs on (informational to the host: the caller opens the store). Default embedded.</summary>
    public Halo.Core.Configuration.StoreKind Store { get; init; } = Halo.Core.Configuration.StoreKind.Embedded;

    /// <summary>With the etcd store: its client URLs, comma-separated. Default none.</summary>
    public string? EtcdEndpoints { get; init; }

    /// <summary>
    /// TLS to https:// etcd endpoints: the pinned CA (--etcd-ca) and client certificate (--etcd-cert/--etcd-key), built by
    /// the CLI. Default null: http:// endpoints only. An https:// list with settings that pin nothing trusts the system store.
    /// </summary>
    public Action<System.Net.Security.SslClientAuthenticationOptions>? EtcdTls { get; init; }

    /// <summary>
    /// True when this server shares its store with other servers (the etcd store): it joins the membership, judges only the
    /// services it owns and forwards heartbeats for the rest. Default false: one server owns everything.
    /// </summary>
    public bool Cluster { get; init; }

    /// <summary>The URL other servers and clients reach this server at. Default null: the address it actually listens on.</summary>
    public string? Advertise { get; init; }

    /// <summary>
    /// TTL of this server's membership lease when several servers share a store: how long a dead server's instances stay
    /// with it before they move. Default 5 s; range 2 s – 60 s.
    /// </summary>
    public TimeSpan MemberTtl { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Detector for services whose registrations do not choose one.</summary>
    public DetectorOptions DefaultDetector { get; init; } = new();

    /// <summary>Per-service detector overrides from the config file, by service name.</summary>
    public IReadOnlyDictionary<string, DetectorOptions> ServiceDetectors { get; init; } = new Dictionary<string, DetectorOptions>();

    /// <summary>How often the detector loop evaluates every instance. Default 100 ms; each service's own evaluation interval is honoured on top.</summary>
    public TimeSpan DetectorTick { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Mass-failure brake (Eureka self-preservation). On by default.</summary>
    public MassFailureBrakeOptions Brake { get; init; } = new();

    /// <summary>When gateways' failure reports mark an instance critical (a backend that heartbeats but fails every request).</summary>
    public CallerEvidenceOptions CallerEvidence { get; init; } = new();

    /// <summary>Events kept in history; older ones are pruned. Default 10,000; range 100 – 1,000,000.</summary>
    public int EventRetention { get; init; } = 10_000;

    /// <summary>Largest request body accepted on ordinary endpoints. Default 64 KiB.</summary>
    public int MaxRequestBodyBytes { get; init; } = 64 * 1024;

    /// <summary>Largest body for the batch heartbeat endpoint. Default 4 MiB (about 50,000 instances).</summary>
    public int MaxBatchBodyBytes { get; init; } = 4 * 1024 * 1024;

    /// <summary>Longest a blocking query may wait. Default 5 min.</summary>
    public TimeSpan MaxBlockingWait { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Interval of the comment line sent on idle SSE streams so proxies keep them open. Default 15 s.</summary>
    public TimeSpan StreamKeepAlive { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Webhook alert delivery (docs/monitoring.md). Default: no webhooks, nothing sent.</summary>
    public AlertOptions Alerts { get; init; } = new();

    /// <summary>
    /// Availability `halo model` predicts per service or group name (from `halo server --model FILE`), shown beside the
    /// measured figure. Default empty: "no model configured". Values in [0, 1].
    /// </summary>
    public IReadOnlyDictionary<string, double> PredictedAvailability { get; init; } = new Dictionary<string, double>();

    /// <summary>
    /// HTTPS settings applied to an https:// <see cref="Listen"/> address (certificate selector, client certificates); the
    /// CLI builds them from --tls-* / server.tls (docs/security.md). Default null: plain HTTP.
    /// </summary>
    public Action<Microsoft.AspNetCore.Server.Kestrel.Https.HttpsConnectionAdapterOptions>? Https { get; init; }

    /// <summary>Tokens, anonymous mode, Host allow-list (docs/security.md). Default: closed, bootstrap token in the data directory.</summary>
    public Halo.Server.Security.SecurityOptions Security { get; init; } = new();
}
