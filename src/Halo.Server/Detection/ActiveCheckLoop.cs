using System.Net.Sockets;
using Halo.Core.Registry;
using Halo.Server.Registry;
using Halo.Server.Security;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Halo.Server.Detection;

/// <summary>
/// Runs the HTTP and TCP checks that registrations ask for. A passing check counts as a heartbeat, so one
/// detector judges both push (heartbeat) and pull (check) evidence the same way.
/// </summary>
internal sealed partial class ActiveCheckLoop(
    InstanceRegistry registry, IHttpClientFactory httpClients, CheckNetworkPolicy networks, ServerOptions options, TimeProvider time, ILogger<ActiveCheckLoop> logger)
    : BackgroundService
{
    public const string HttpClientName = "halo-checks";

    // Bounded so thousands of checked instances cannot exhaust sockets or starve the API.
    private readonly SemaphoreSlim _concurrency = new(64);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.DetectorTick, time);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            try
            {
                StartDueChecks(stoppingToken);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                LogLoopFailed(ex);
            }
        }
    }

    public void StartDueChecks(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        // Only the owner of a service runs its checks: a passing check is a heartbeat, and heartbeats live on the owner.
        foreach (var shard in registry.Shards().Where(s => s.Owned))
        {
            foreach (var (entry, live, check) in shard.DueChecks(now))
            {
                _ = RunAsync(shard, entry, live, check, cancellationToken);
            }
        }
    }

    private async Task RunAsync(ServiceShard shard, InstanceEntry entry, Liveness live, HealthCheckSpec check, CancellationToken cancellationToken)
    {
        try
        {
            await _concurrency.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (await ProbeAsync(entry.Record, check, cancellationToken).ConfigureAwait(false))
                {
                    shard.Heartbeat(entry.Record.Id, time.GetUtcNow());
                }
            }
            finally
            {
                _concurrency.Release();
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        finally
        {
            Volatile.Write(ref live.CheckRunning, 0);
        }
    }

    private async Task<bool> ProbeAsync(InstanceRecord record, HealthCheckSpec check, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(check.Timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            if (check.Type == CheckType.Tcp)
            {
                using var socket = await networks.ConnectAsync(record.Address, record.Port, linked.Token).ConfigureAwait(false);
                return true;
            }

            var host = record.Address.Contains(':', StringComparison.Ordinal) ? $"[{record.Address}]" : record.Address;
            using var response = await httpClients.CreateClient(HttpClientName)
                .GetAsync(new Uri($"http://{host}:{record.Port}{check.Path}"), HttpCompletionOption.ResponseHeadersRead, linked.Token)
                .ConfigureAwait(false);
            // Redirects are not followed (the handler's AllowAutoRedirect is off): a 3xx is a failing check, like a 4xx.
            return response.IsSuccessStatusCode;
        }
        catch (Exception ex) when ((ex as CheckRefusedException ?? ex.InnerException as CheckRefusedException) is { } refused)
        {
            LogCheckRefused(record.Service, record.Id, refused.Message);
            return false;
        }
        catch (Exception ex) when (ex is HttpRequestException or SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            LogCheckFailed(record.Service, record.Id, ex.Message);
            return false;
        }
    }

    [LoggerMessage(EventId = 2101, Level = LogLevel.Debug, Message = "Check of {Service}/{Id} failed: {Reason}")]
    private partial void LogCheckFailed(string service, string id, string reason);

    [LoggerMessage(EventId = 2103, Level = LogLevel.Warning, Message = "Check of {Service}/{Id} refused: {Reason}")]
    private partial void LogCheckRefused(string service, string id, string reason);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Error, Message = "Active check loop failed; retrying on the next tick")]
    private partial void LogLoopFailed(Exception ex);
}
