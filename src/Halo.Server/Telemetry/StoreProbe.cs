using Halo.Store;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Halo.Server.Telemetry;

/// <summary>
/// Asks the store for its revision every few seconds and publishes whether it answered (halo.store.available),
/// so "control-plane store unavailable" can alert before any write fails — registry writes are rare when healthy.
/// Also the server's own account of an outage in its log: one line when the store stops answering (a probe or an API
/// request that got a 503 finds out first) and one when a probe is answered again.
/// </summary>
internal sealed partial class StoreProbe(IStore store, MonitoringMetrics metrics, ServerOptions options, TimeProvider time, ILogger<StoreProbe> logger)
    : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);

    /// <summary>The interval while the store does not answer, so its return is logged (and alerts resolve) within about a second.</summary>
    public static readonly TimeSpan OutageInterval = TimeSpan.FromSeconds(1);

    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);
    private readonly StoreOutageLog _outage = new(StoreOutageLog.Describe(options), logger, time);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (true)
            {
                var available = await ProbeAsync(stoppingToken).ConfigureAwait(false);
                await Task.Delay(available ? Interval : OutageInterval, time, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>An API request failed because the store is unavailable (answered 503): logged only if it starts an outage.</summary>
    public void RequestFailed(Exception error) => _outage.Failed(error);

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
            _outage.Answered();
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            available = false;
            _outage.Failed(ex is OperationCanceledException ? new TimeoutException($"no answer to the probe within {Timeout.TotalSeconds:0} s", ex) : ex);
        }

        metrics.StoreAvailable(available);
        return available;
    }
}
