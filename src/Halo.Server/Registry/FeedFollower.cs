using Halo.Server.Events;
using Halo.Store;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Halo.Server.Registry;

/// <summary>
/// Follows the store's change feed for the registry so changes made by other servers sharing the store
/// (etcd mode) reach this server's view and its blocking queries. Also prunes the event history.
/// </summary>
internal sealed partial class FeedFollower(
    IStore store, InstanceRegistry registry, EventLog events, StartupState startup, TimeProvider time, ILogger<FeedFollower> logger)
    : BackgroundService
{
    private static readonly TimeSpan PruneEvery = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan RetryAfter = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        _ = PruneLoopAsync(stoppingToken);
        var from = startup.LoadedRevision;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await foreach (var change in store.WatchAsync(RegistryKeys.InstancesPrefix, from, stoppingToken).ConfigureAwait(false))
                {
                    registry.Apply(change);
                    from = change.Item.ModRevision;
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (RevisionCompactedException)
            {
                from = await registry.LoadAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                LogFeedFailed(ex);
                await Task.Delay(RetryAfter, time, stoppingToken).ConfigureAwait(false);
            }
        }
    }

    private async Task PruneLoopAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(PruneEvery, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                try
                {
                    await events.PruneAsync(stoppingToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
                {
                    LogPruneFailed(ex);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    [LoggerMessage(EventId = 1101, Level = LogLevel.Warning, Message = "Registry feed from the store failed; resuming")]
    private partial void LogFeedFailed(Exception ex);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Warning, Message = "Pruning the event history failed")]
    private partial void LogPruneFailed(Exception ex);
}

/// <summary>What start-up loaded, for the services that start after it.</summary>
internal sealed class StartupState
{
    public long LoadedRevision { get; set; }
}
