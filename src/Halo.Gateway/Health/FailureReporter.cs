using System.Globalization;
using System.Net;
using System.Net.Http.Json;
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
    private readonly HttpClient _http;
    private readonly string _reporter;
    private bool _unsupportedLogged;

    /// <summary>Creates the reporter.</summary>
    public FailureReporter(GatewaySettings settings, RoutingTableBuilder builder, TimeProvider time, ILogger<FailureReporter> logger)
    {
        _settings = settings;
        _builder = builder;
        _time = time;
        _logger = logger;
        _reporter = "gateway@" + settings.Listen;
        _http = new HttpClient(new SocketsHttpHandler { UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(2) })
        {
            BaseAddress = settings.Server,
            Timeout = TimeSpan.FromSeconds(5),
        };
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

                var report = new FailureReport(_reporter, cluster.Name, Window.TotalSeconds.ToString(CultureInfo.InvariantCulture) + "s",
                    counts.Requests, counts.Failures, counts.ConnectFailures, counts.Timeouts, counts.ServerErrors, d.Outlier.IsEjected);
                try
                {
                    using var response = await _http.PostAsJsonAsync(
                        $"/v1/services/{Uri.EscapeDataString(d.Service)}/instances/{Uri.EscapeDataString(d.InstanceId)}/reports", report, ct);
                    if (response.StatusCode == HttpStatusCode.NotFound && !_unsupportedLogged)
                    {
                        _unsupportedLogged = true;
                        Log.ReportsUnsupported(_logger, _settings.Server);
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                {
                    Log.ReportFailed(_logger, d.Service, d.InstanceId, ex.Message);
                }
            }
        }
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        _http.Dispose();
        base.Dispose();
    }
}

/// <summary>Body of POST /v1/services/{service}/instances/{id}/reports.</summary>
/// <param name="Reporter">Who observed it: "gateway@host:port".</param>
/// <param name="Cluster">Gateway cluster that routed the requests.</param>
/// <param name="Window">Length of the observation window, e.g. "5s".</param>
/// <param name="Requests">Attempts sent to the instance in the window.</param>
/// <param name="Failures">Attempts that failed (sum of the three kinds).</param>
/// <param name="ConnectFailures">Refused, reset or broken connections.</param>
/// <param name="Timeouts">No response within the per-try timeout.</param>
/// <param name="ServerErrors">5xx answers.</param>
/// <param name="Ejected">Whether the gateway currently ejects the instance.</param>
public sealed record FailureReport(string Reporter, string Cluster, string Window, long Requests, long Failures,
    long ConnectFailures, long Timeouts, long ServerErrors, bool Ejected);
