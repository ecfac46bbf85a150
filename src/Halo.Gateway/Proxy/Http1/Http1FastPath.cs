using System.Collections.Concurrent;
using System.Text;
using Halo.Core.Balancing;
using Halo.Gateway.Configuration;
using Halo.Gateway.Routing;
using Halo.Gateway.Telemetry;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Halo.Gateway.Proxy.Http1;

/// <summary>
/// The gateway's HTTP/1.1 fast path, a Kestrel connection middleware. For the common request (HTTP/1.1,
/// origin-form target, Content-Length or no body, a proxied route) it parses the head itself, forwards it
/// over its own pooled backend connections and streams the response back, with the same routing,
/// balancing, retries, per-try timeouts, retry budget, passive health and metrics as the YARP path, and
/// without allocating per request. Anything else — HTTP/2, upgrades and WebSockets, chunked or expected
/// request bodies, unusual syntax, the gateway's own endpoints — is handed to Kestrel and YARP untouched,
/// at a request boundary, for the rest of that connection.
/// </summary>
internal sealed class Http1FastPath : IDisposable
{
    private static readonly TimeSpan SweepInterval = TimeSpan.FromSeconds(1);
    private readonly ConcurrentDictionary<Http1ClientConnection, byte> _connections = new();
    private readonly ITimer _sweeper;

    public Http1FastPath(RoutingTableHolder tables, GatewaySettings settings, GatewayMetrics metrics, IRandomFactory randomFactory,
        TimeProvider time, IOptions<KestrelServerOptions> kestrel, ILogger<Http1FastPath> logger, ForwardedHeaders forwarded)
    {
        Tables = tables;
        Forwarded = forwarded;
        Metrics = metrics;
        RandomFactory = randomFactory;
        Time = time;
        Logger = logger;
        OwnPath = Encoding.ASCII.GetBytes(settings.MetricsPath);
        KeepAliveTicks = Ticks(kestrel.Value.Limits.KeepAliveTimeout, time);
        RequestHeadersTicks = Ticks(kestrel.Value.Limits.RequestHeadersTimeout, time);
        // Kestrel's own idle and header timeouts run on its heartbeat; connections on the fast path get
        // the same limits from this one-second sweep, which also closes backend connections left idle.
        _sweeper = time.CreateTimer(static s => ((Http1FastPath)s!).Sweep(), this, SweepInterval, SweepInterval);
    }

    /// <summary>False sends every connection through Kestrel and YARP (tests compare both paths).</summary>
    public bool Enabled { get; set; } = true;

    internal RoutingTableHolder Tables { get; }

    internal ForwardedHeaders Forwarded { get; }

    internal GatewayMetrics Metrics { get; }

    internal IRandomFactory RandomFactory { get; }

    internal TimeProvider Time { get; }

    internal ILogger Logger { get; }

    /// <summary>The gateway's own endpoint (metrics), served by ASP.NET Core routing, not proxied.</summary>
    internal byte[] OwnPath { get; }

    internal long KeepAliveTicks { get; }

    internal long RequestHeadersTicks { get; }

    /// <summary>Idle time after which a pooled backend connection is closed (HttpClient's default pool idle timeout is 60 s; YARP's path used 30 s).</summary>
    internal static TimeSpan BackendIdleTimeout { get; } = TimeSpan.FromSeconds(30);

    /// <summary>The connection middleware: serves what it can, then hands the connection on.</summary>
    public async Task OnConnectionAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        // TLS connections (which may have negotiated HTTP/2 by ALPN) stay with Kestrel for now.
        if (!Enabled || connection.Features.Get<ITlsHandshakeFeature>() is not null)
        {
            await next(connection);
            return;
        }

        var client = new Http1ClientConnection(this, connection);
        _connections.TryAdd(client, 0);
        bool handOff;
        try
        {
            Task<bool> serving;
            // Kestrel runs this middleware inside its connection logging scope (an AsyncLocal): flowing it would make
            // every resume of the fast path restore that ExecutionContext. The fast path logs the connection id itself.
            using (ExecutionContext.SuppressFlow())
            {
                serving = client.RunAsync();
            }

            handOff = await serving;
        }
        finally
        {
            _connections.TryRemove(client, out _);
            client.Release();
        }

        if (handOff)
        {
            await next(connection);
        }
    }

    public void Dispose() => _sweeper.Dispose();

    private void Sweep()
    {
        try
        {
            var now = Time.GetTimestamp();
            foreach (var c in _connections.Keys)
            {
                c.CheckDeadline(now);
            }

            if (Tables.Current is { } table)
            {
                var idleSince = now - Ticks(BackendIdleTimeout, Time);
                foreach (var cluster in table.Routes.Select(r => r.Cluster).Distinct())
                {
                    foreach (var d in cluster.AllMembers)
                    {
                        d.Connections.Prune(idleSince);
                    }
                }
            }
        }
        catch (Exception ex)
        {
            Log.LoopFailed(Logger, "fast-path sweep", ex);
        }
    }

    private static long Ticks(TimeSpan span, TimeProvider time) =>
        span == Timeout.InfiniteTimeSpan || span >= TimeSpan.FromDays(3650) ? long.MaxValue / 4 : (long)(span.TotalSeconds * time.TimestampFrequency);
}
