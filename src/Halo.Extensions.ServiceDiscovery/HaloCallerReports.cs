using System.Collections.Concurrent;
using Halo.Client;
using Halo.Core.Balancing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Halo.Extensions.ServiceDiscovery;

/// <summary>
/// Caller-observed health, as the gateway reports it: counts this application's requests to each Halo instance and,
/// every <see cref="Window"/>, sends the server one report per instance that failed some (POST .../reports). An instance
/// that heartbeats fine but fails its callers can then be judged by the server.
/// </summary>
public sealed class HaloCallerReports(HaloClient client, TimeProvider time, ILogger<HaloCallerReports> logger) : BackgroundService
{
    /// <summary>Report window. The server's judgement needs 20 requests in 30 s, so 5 s windows add up fast enough.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<(string Service, string Id), CallerCounts> _counters = new();
    private readonly string _reporter = "app@" + Environment.MachineName + ":" + Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Records the outcome of one request to an instance.</summary>
    public void Record(string service, string id, FailureKind outcome) => _counters.GetOrAdd((service, id), _ => new CallerCounts()).Count(outcome);

    /// <summary>Sends one report per instance with failures in the window and starts a new window. Tests call it directly.</summary>
    public async Task FlushAsync(CancellationToken ct)
    {
        foreach (var (key, counter) in _counters)
        {
            var counts = counter.Take();
            if (counts.Requests == 0)
            {
                _counters.TryRemove(key, out _); // forget instances nobody calls any more
                continue;
            }

            if (counts.Failures == 0)
            {
                continue;
            }

            try
            {
                using var bound = new CancellationTokenSource(Window, time);
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, bound.Token);
                await client.ReportAsync(key.Service, key.Id,
                    new CallerReport(_reporter, null, Window, counts.Requests, counts.Failures, counts.ConnectFailures, counts.Timeouts, counts.ServerErrors, false),
                    linked.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is HttpRequestException or HaloApiException or OperationCanceledException && !ct.IsCancellationRequested)
            {
                DiscoveryLog.ReportFailed(logger, key.Service, key.Id, ex.Message);
            }
        }
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(Window, time, stoppingToken).ConfigureAwait(false);
                await FlushAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
        }
    }
}
