using Halo.Store;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Halo.Server.Telemetry;

/// <summary>
/// Asks the store for its revision every few seconds and publishes whether it answered (halo.store.available),
/// so "control-plane store unavailable" can alert before any write fails — registry writes are rare when healthy.
/// </summary>
internal sealed partial class StoreProbe(IStore store, MonitoringMetrics metrics, TimeProvider time, ILogger<StoreProbe> logger) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);
    private bool _available = true;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, time);
        try
        {
            do
            {
                await ProbeAsync(stoppingToken).ConfigureAwait(false);
            }
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>One probe; public to tests.</summary>
    public async Task<bool> ProbeAsync(CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(Timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        bool available;
        try
        {
            await store.GetRevisionAsync(linked.Token).ConfigureAwait(false);
            available = true;
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            available = false;
            if (_available)
            {
                LogUnavailable(ex);
            }
        }

        if (available && !_available)
        {
            LogRecovered();
        }

        _available = available;
        metrics.StoreAvailable(available);
        return available;
    }

    [LoggerMessage(EventId = 5101, Level = LogLevel.Error, Message = "The store did not answer its probe; halo.store.available = 0")]
    private partial void LogUnavailable(Exception ex);

    [LoggerMessage(EventId = 5102, Level = LogLevel.Information, Message = "The store answers its probe again")]
    private partial void LogRecovered();
}
