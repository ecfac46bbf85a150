using Halo.Server.Events;
using Halo.Server.Groups;
using Halo.Server.Registry;
using Halo.Server.Telemetry;
using Halo.Store;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Halo.Server.Cluster;

/// <summary>
/// Keeps this server's caches in step with the store: loads them at start, then follows one watch of the whole
/// keyspace in revision order and hands each change to the cache it belongs to (registry view, event history).
/// Every server sharing a store applies the same changes in the same order, so a client may read from any of them;
/// <see cref="CatchUpAsync"/> gives a read the store's current revision (a consistent read from the cache, as
/// Kubernetes' API server does), so a write acknowledged anywhere is visible to a read that follows it.
/// </summary>
internal sealed partial class StoreFollower(
    IStore store, InstanceRegistry registry, EventLog events, ServerMembership membership, ChangeIndex index, StartupState startup,
    GroupRegistry groups, ServerOptions options, TimeProvider time, ILogger<StoreFollower> logger)
    : BackgroundService
{
    private static readonly TimeSpan RetryAfter = TimeSpan.FromSeconds(1);

    // While the store is down the feed fails every second; the outage is told in two lines, not one per retry.
    private readonly StoreOutageLog _outage = new(StoreOutageLog.Describe(options), logger, time);

    /// <summary>Loads every cache; returns the revision the feed resumes from.</summary>
    public async Task<long> LoadAsync(CancellationToken cancellationToken)
    {
        var members = await membership.LoadAsync(cancellationToken).ConfigureAwait(false);
        var instances = await registry.LoadAsync(cancellationToken).ConfigureAwait(false);
        var history = await store.ListAsync(RegistryKeys.EventsPrefix, cancellationToken).ConfigureAwait(false);
        events.Load(history);
        // The lower of the two: changes between the reads are replayed, and each cache ignores what it already holds.
        var from = Math.Min(Math.Min(members, instances), history.Revision);
        index.AdvanceFollowed(from);
        startup.LoadedRevision = from;
        return from;
    }

    /// <summary>
    /// Waits (at most <paramref name="wait"/>) until every change up to the store's current revision is applied here.
    /// Returns false when the feed is behind for longer (the store is slow or unreachable); the caller answers from the cache anyway.
    /// </summary>
    public async Task<bool> CatchUpAsync(TimeSpan wait, CancellationToken cancellationToken)
    {
        var target = await store.GetRevisionAsync(cancellationToken).ConfigureAwait(false);
        return await index.WaitFollowedAsync(target, wait, time, cancellationToken).ConfigureAwait(false);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var from = index.Followed;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await _outage.ConfirmAnsweringAsync(store, stoppingToken).ConfigureAwait(false);

                await foreach (var change in store.WatchAsync("", from, stoppingToken).ConfigureAwait(false))
                {
                    Dispatch(change);
                    from = change.Item.ModRevision;
                    index.AdvanceFollowed(from);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (RevisionCompactedException)
            {
                from = await LoadAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (StoreUnavailableException ex)
            {
                _outage.Failed(ex);
                await Task.Delay(RetryAfter, time, stoppingToken).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                LogFeedFailed(ex.Message);
                await Task.Delay(RetryAfter, time, stoppingToken).ConfigureAwait(false);
            }
        }
    }

    private void Dispatch(WatchEvent change)
    {
        var key = change.Item.Key;
        if (key.StartsWith(RegistryKeys.InstancesPrefix, StringComparison.Ordinal))
        {
            registry.Apply(change);
        }
        else if (key.StartsWith(RegistryKeys.EventsPrefix, StringComparison.Ordinal))
        {
            events.Apply(change);
        }
        else if (key.StartsWith(ClusterKeys.ServersPrefix, StringComparison.Ordinal))
        {
            membership.Apply(change);
        }
        else if (key.StartsWith(GroupKeys.Prefix, StringComparison.Ordinal))
        {
            groups.Apply(change);
        }
    }

    [LoggerMessage(EventId = 1101, Level = LogLevel.Warning, Message = "Following the store's change feed failed ({Reason}); resuming in 1 s")]
    private partial void LogFeedFailed(string reason);
}

/// <summary>What start-up loaded, for the services that start after it.</summary>
internal sealed class StartupState
{
    public long LoadedRevision { get; set; }
}
