using System.Threading.Channels;
using Halo.Core.Registry;
using Halo.Server.Cluster;
using Halo.Server.Events;
using Halo.Server.Registry;
using Halo.Server.Telemetry;
using Halo.Store;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Halo.Server.Alerts;

/// <summary>
/// Follows the event history (the same feed the dashboard reads) from the revision the server loaded, turns
/// alert-worthy events into notifications, and delivers them to every webhook in order. Each delivery — its
/// attempts and outcome — is itself recorded in the event history as an "alert" event.
/// </summary>
internal sealed partial class AlertDispatcher(
    IStore store, InstanceRegistry registry, StartupState startup, WebhookSender sender, AlertOptions options,
    MonitoringMetrics metrics, ServerOptions server, IServer host, TimeProvider time, ILogger<AlertDispatcher> logger)
    : BackgroundService
{
    private static readonly TimeSpan RetryFeedAfter = TimeSpan.FromSeconds(1);
    private readonly AlertDeduplicator _dedup = new(options.DedupWindow, time);

    // While the store is down the feed fails every second; the outage is told in two lines, not a stack trace each time.
    private readonly StoreOutageLog _outage = new(StoreOutageLog.Describe(server), logger, time);

    // Bounded: a receiver that is down for hours must not grow memory without limit; the oldest waits, the feed pauses.
    private readonly Channel<(Alert Alert, RegistryEvent Cause)> _queue =
        Channel.CreateBounded<(Alert, RegistryEvent)>(new BoundedChannelOptions(10_000) { SingleReader = true, SingleWriter = true });

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.Webhooks.Count == 0)
        {
            return;
        }

        var delivery = DeliverLoopAsync(stoppingToken);
        await FollowAsync(stoppingToken).ConfigureAwait(false);
        _queue.Writer.TryComplete();
        await delivery.ConfigureAwait(false);
    }

    private async Task FollowAsync(CancellationToken stoppingToken)
    {
        var from = startup.LoadedRevision;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await _outage.ConfirmAnsweringAsync(store, stoppingToken).ConfigureAwait(false);

                await foreach (var change in store.WatchAsync(RegistryKeys.EventsPrefix, from, stoppingToken).ConfigureAwait(false))
                {
                    from = change.Item.ModRevision;
                    if (change.Type == WatchEventType.Put && EventLog.Read(change.Item) is { } e && Notify(e) is { } alert)
                    {
                        await _queue.Writer.WriteAsync((alert, e), stoppingToken).ConfigureAwait(false);
                    }
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (RevisionCompactedException)
            {
                // Events older than the compaction are gone; alerting late about them would mislead, so skip ahead.
                from = await store.GetRevisionAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (StoreUnavailableException ex)
            {
                _outage.Failed(ex);
                await Task.Delay(RetryFeedAfter, time, stoppingToken).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                LogFeedFailed(ex);
                await Task.Delay(RetryFeedAfter, time, stoppingToken).ConfigureAwait(false);
            }
        }
    }

    private Alert? Notify(RegistryEvent e)
    {
        if (AlertRules.From(e, ExternalUrl) is not { } alert)
        {
            return null;
        }

        if (!_dedup.ShouldSend(alert))
        {
            metrics.AlertSuppressed(alert.Name);
            LogSuppressed(alert.Name, alert.Status, alert.Fingerprint);
            return null;
        }

        return alert;
    }

    private async Task DeliverLoopAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var (alert, cause) in _queue.Reader.ReadAllAsync(stoppingToken).ConfigureAwait(false))
            {
                var payload = AlertPayload.For(alert, options.Receiver, ExternalUrl);
                foreach (var webhook in options.Webhooks)
                {
                    try
                    {
                        var result = await sender.SendAsync(webhook, payload, stoppingToken).ConfigureAwait(false);
                        metrics.AlertDelivery(alert.Name, result.Delivered, result.Attempts);
                        await RecordAsync(alert, cause, result, stoppingToken).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
                    {
                        // Recording the delivery failed (store down): the delivery itself is logged, the loop goes on.
                        LogRecordFailed(ex, alert.Name);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task RecordAsync(Alert alert, RegistryEvent cause, DeliveryResult result, CancellationToken cancellationToken)
    {
        if (result.Delivered)
        {
            LogDelivered(alert.Name, alert.Status, result.Webhook, result.Attempts);
        }
        else
        {
            LogDeliveryFailed(alert.Name, alert.Status, result.Webhook, result.Attempts, result.LastError);
        }

        await registry.RecordAsync(new RegistryEvent
        {
            Type = EventTypes.Alert,
            Time = time.GetUtcNow(),
            Service = cause.Service,
            Instance = cause.Instance,
            To = result.Delivered ? "delivered" : "failed",
            Cause = result.Delivered
                ? $"{alert.Name} {alert.Status} delivered to {result.Webhook} after {result.Attempts} attempt(s)"
                : $"{alert.Name} {alert.Status} not delivered to {result.Webhook} after {result.Attempts} attempt(s): {result.LastError}",
            Evidence = new Dictionary<string, object?>
            {
                ["alertname"] = alert.Name, ["status"] = alert.Status, ["fingerprint"] = alert.Fingerprint,
                ["webhook"] = result.Webhook, ["attempts"] = result.Attempts, ["lastError"] = result.LastError,
                ["eventRevision"] = cause.Revision,
            },
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Where receivers can reach this server: the bound address (port 0 resolved), else the configured one.</summary>
    private string ExternalUrl
    {
        get
        {
            var url = host.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? server.Listen;
            return url.EndsWith('/') ? url : url + "/";
        }
    }

    [LoggerMessage(EventId = 5001, Level = LogLevel.Information, Message = "Alert {Alert} {Status} delivered to {Webhook} after {Attempts} attempt(s)")]
    private partial void LogDelivered(string alert, string status, string webhook, int attempts);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Error, Message = "Alert {Alert} {Status} NOT delivered to {Webhook} after {Attempts} attempt(s): {Error}")]
    private partial void LogDeliveryFailed(string alert, string status, string webhook, int attempts, string? error);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Debug, Message = "Alert {Alert} {Status} ({Fingerprint}) suppressed as a duplicate")]
    private partial void LogSuppressed(string alert, string status, string fingerprint);

    [LoggerMessage(EventId = 5004, Level = LogLevel.Warning, Message = "Alert feed from the event history failed; resuming")]
    private partial void LogFeedFailed(Exception ex);

    [LoggerMessage(EventId = 5005, Level = LogLevel.Warning, Message = "Recording the delivery of {Alert} failed")]
    private partial void LogRecordFailed(Exception ex, string alert);
}
