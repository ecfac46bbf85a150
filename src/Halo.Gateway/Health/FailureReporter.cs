using System.Net;
using Halo.Client;
using Halo.Gateway.Configuration;
using Halo.Gateway.Routing;
using Halo.Gateway.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Halo.Gateway.Health;

/// <summary>
/// Sends caller-observed failures back to the control plane (POST
/// /v1/services/{service}/instances/{id}/reports, body in docs/gateway.md), so an instance that
/// heartbeats fine but fails real requests can be judged by the server. Only registry-backed
/// destinations with failures in the window are reported. A server without the endpoint (404 for
/// every report) is tolerated: the gateway logs once and keeps trying at a slow pace.
/// </summary>
public sealed class FailureReporter : BackgroundService
{
    /// <summary>Report window.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(5);

    private readonly GatewaySettings _settings;
    private readonly RoutingTableBuilder _builder;
    private readonly TimeProvider _time;
    private readonly ILogger<FailureReporter> _logger;
    private readonly HaloClient _client;
    private readonly string _reporter;
    private bool _unsupportedLogged;

    /// <summary>Creates the reporter.</summary>
    public FailureReporter(GatewaySettings settings, HaloClient client, RoutingTableBuilder builder, TimeProvider time, ILogger<FailureReporter> logger)
    {
        _client = client;
        _settings = settings;
        _builder = builder;
        _time = time;
        _logger = logger;
        _reporter = "gateway@" + settings.Listen;
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_settings.UsesRegistry)
        {
            return;
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(Window, _time, stoppingToken);
                await FlushAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                Log.LoopFailed(_logger, nameof(FailureReporter), ex);
            }
        }
    }

    /// <summary>Sends one report per destination that failed in the window. Tests call it directly.</summary>
    public async Task FlushAsync(CancellationToken ct)
    {
        foreach (var cluster in _builder.Clusters.Values)
        {
            foreach (var d in cluster.AllMembers)
            {
                if (d.Service is null || d.InstanceId is null)
                {
                    continue;
                }

                var counts = d.TakeCounts();
                if (counts.Failures == 0)
                {
                    continue;
                }

                var report = new CallerReport(_reporter, cluster.Name, Window, counts.Requests, counts.Failures, counts.ConnectFailures, counts.Timeouts,
                    counts.ServerErrors, d.Outlier.IsEjected);
                try
                {
                    using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(5), _time);
                    using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, bound.Token);
                    await _client.ReportAsync(d.Service, d.InstanceId, report, linked.Token);
                }
                catch (HaloApiException ex) when (ex.Status == HttpStatusCode.NotFound)
                {
                    // An instance deregistered since the window began, or a server without the endpoint: say so once.
                    if (!_unsupportedLogged)
                    {
                        _unsupportedLogged = true;
                        Log.ReportsUnsupported(_logger, _client.CurrentServer!);
                    }
                }
                catch (HaloApiException ex)
                {
                    Log.ReportFailed(_logger, d.Service, d.InstanceId, ex.Message);
                }
                catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException && !ct.IsCancellationRequested)
                {
                    Log.ReportFailed(_logger, d.Service, d.InstanceId, ex.Message);
                }
            }
        }
    }
}
