using Halo.Core;
using Halo.Gateway.Routing;
using Halo.Gateway.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Halo.Gateway.Health;

/// <summary>
/// One loop for time-driven health: every tick it starts due active probes and refreshes each
/// cluster's snapshot (ejections expire, slow start ramps). Probes run on a faster interval while a
/// destination is between states, so both failure and recovery are confirmed quickly.
/// </summary>
public sealed class HealthService : BackgroundService
{
    /// <summary>Tick period: the resolution of ejection expiry and slow start.</summary>
    public static readonly TimeSpan TickPeriod = TimeSpan.FromMilliseconds(100);

    private readonly RoutingTableBuilder _builder;
    private readonly TimeProvider _time;
    private readonly ILogger<HealthService> _logger;
    private readonly HttpClient _http;
    private readonly Proxy.ForwarderClients _clients;

    /// <summary>Creates the service.</summary>
    public HealthService(RoutingTableBuilder builder, Proxy.ForwarderClients clients, TimeProvider time, ILogger<HealthService> logger)
    {
        _builder = builder;
        _clients = clients;
        _time = time;
        _logger = logger;
        _http = new HttpClient(new SocketsHttpHandler { UseProxy = false, PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30) })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                Tick(stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Log.LoopFailed(_logger, nameof(HealthService), ex);
            }

            try
            {
                await Task.Delay(TickPeriod, _time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>One pass: launch due probes, refresh every cluster. Tests call it directly.</summary>
    public void Tick(CancellationToken ct)
    {
        var now = _time.GetTimestamp();
        foreach (var cluster in _builder.Clusters.Values)
        {
            if (cluster.Settings.Active is { } active)
            {
                foreach (var d in cluster.AllMembers)
                {
                    var p = d.Probe;
                    if (now >= p.NextDue && Interlocked.CompareExchange(ref p.Running, 1, 0) == 0)
                    {
                        _ = ProbeAsync(cluster, d, active, ct);
                    }
                }
            }

            cluster.Refresh();
        }
    }

    private async Task ProbeAsync(ClusterRuntime cluster, DestinationRuntime d, Configuration.ActiveHealthSettings active, CancellationToken ct)
    {
        var p = d.Probe;
        try
        {
            bool ok;
            try
            {
                using var deadline = new Deadline(active.Timeout, _time, ct);
                // An HTTPS cluster is probed through its proxying client, which carries the pinned CA and client certificate.
                using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(d.Address, active.Path));
                using var response = cluster.Settings.Https
                    ? await _clients.For(cluster).Client.SendAsync(request, deadline.Token)
                    : await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, deadline.Token);
                ok = (int)response.StatusCode is >= 200 and < 400;
            }
            catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException)
            {
                ok = false;
            }

            if (ct.IsCancellationRequested)
            {
                return;
            }

            var before = d.ActiveHealthy;
            if (ok)
            {
                p.Failures = 0;
                p.Successes++;
                if (before == false && p.Successes >= active.Rise)
                {
                    d.ActiveHealthy = true;
                }
                else if (before is null)
                {
                    d.ActiveHealthy = true;
                }
            }
            else
            {
                p.Successes = 0;
                p.Failures++;
                if (before != false && p.Failures >= active.Fall)
                {
                    d.ActiveHealthy = false;
                }
            }

            var after = d.ActiveHealthy;
            if (after != before && before is not null)
            {
                Log.ProbeStateChanged(_logger, cluster.Name, d.Name, after == true ? "healthy" : "unhealthy");
                cluster.Refresh();
            }

            // Between states (a streak is building against the current verdict): probe faster to confirm.
            var changing = (after == true && p.Failures > 0) || (after == false && p.Successes > 0);
            var next = changing ? active.FastInterval : active.Interval;
            p.NextDue = _time.GetTimestamp() + (long)(next.TotalSeconds * _time.TimestampFrequency);
        }
        finally
        {
            Volatile.Write(ref p.Running, 0);
        }
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        _http.Dispose();
        base.Dispose();
    }
}
