using System.Collections.Concurrent;
using Halo.Client;
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

    private readonly ConcurrentDictionary<(string Service, string Id), Counters> _counters = new();
    private readonly string _reporter = "app@" + Environment.MachineName + ":" + Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Records the outcome of one request to an instance.</summary>
    public void Record(string service, string id, CallOutcome outcome)
    {
        var c = _counters.GetOrAdd((service, id), _ => new Counters());
        Interlocked.Increment(ref c.Requests);
        switch (outcome)
        {
            case CallOutcome.ConnectFailure: Interlocked.Increment(ref c.ConnectFailures); break;
            case CallOutcome.Timeout: Interlocked.Increment(ref c.Timeouts); break;
            case CallOutcome.ServerError: Interlocked.Increment(ref c.ServerErrors); break;
        }
    }

    /// <summary>Sends one report per instance with failures in the window and starts a new window. Tests call it directly.</summary>
    public async Task FlushAsync(CancellationToken ct)
    {
        foreach (var (key, c) in _counters)
        {
            var requests = Interlocked.Exchange(ref c.Requests, 0);
            var connect = Interlocked.Exchange(ref c.ConnectFailures, 0);
            var timeouts = Interlocked.Exchange(ref c.Timeouts, 0);
            var errors = Interlocked.Exchange(ref c.ServerErrors, 0);
            var failures = connect + timeouts + errors;
            if (requests == 0)
            {
                _counters.TryRemove(key, out _); // forget instances nobody calls any more
                continue;
            }

            if (failures == 0)
            {
                continue;
            }

            try
            {
                using var bound = new CancellationTokenSource(Window, time);
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, bound.Token);
                await client.ReportAsync(key.Service, key.Id,
                    new CallerReport(_reporter, null, Window, Math.Max(requests, failures), failures, connect, timeouts, errors, false), linked.Token).ConfigureAwait(false);
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

    private sealed class Counters
    {
        public long Requests;
        public long ConnectFailures;
        public long Timeouts;
        public long ServerErrors;
    }
}

/// <summary>How one request to an instance ended, as a caller saw it.</summary>
public enum CallOutcome
{
    /// <summary>An answer below 500.</summary>
    Success,
    /// <summary>Refused, reset or broken connection.</summary>
    ConnectFailure,
    /// <summary>No answer in time.</summary>
    Timeout,
    /// <summary>A 5xx answer.</summary>
    ServerError,
}

/// <summary>Records each request's outcome against the Halo instance it went to; sits inside the discovery handler.</summary>
internal sealed class CallerReportHandler(HaloCallerReports reports, HaloServiceCatalog catalog) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var instance = request.RequestUri is { IsAbsoluteUri: true } uri ? catalog.Find(uri.IdnHost, uri.Port) : null;
        if (instance is null)
        {
            return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }

        try
        {
            var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            reports.Record(instance.Service, instance.Id, (int)response.StatusCode >= 500 ? CallOutcome.ServerError : CallOutcome.Success);
            return response;
        }
        catch (HttpRequestException)
        {
            reports.Record(instance.Service, instance.Id, CallOutcome.ConnectFailure);
            throw;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            reports.Record(instance.Service, instance.Id, CallOutcome.Timeout);
            throw;
        }
    }
}
