using Halo.Server.Cluster;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Halo.Server.Events;

/// <summary>
/// Keeps the stored event history within its retention, every 30 s. Of several servers over one store, only the owner of
/// <see cref="OwnerKey"/> prunes (rendezvous on the membership, like a service): every server sees the same history, and
/// three pruners deleting the same keys tripled the store's proposals. While ownership moves two may prune at once, which
/// is harmless (deletes are idempotent).
/// </summary>
internal sealed partial class EventPruner(EventLog events, ServerMembership membership, TimeProvider time, ILogger<EventPruner> logger) : BackgroundService
{
    private static readonly TimeSpan PruneEvery = TimeSpan.FromSeconds(30);

    /// <summary>The name ownership of the pruning is hashed on; a slash keeps it apart from every valid service name.</summary>
    internal const string OwnerKey = "events/pruner";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(PruneEvery, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                if (!membership.Current.Owns(OwnerKey))
                {
                    continue;
                }

                try
                {
                    await events.PruneAsync(stoppingToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
                {
                    LogPruneFailed(ex.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    [LoggerMessage(EventId = 1102, Level = LogLevel.Warning, Message = "Pruning the event history failed: {Reason}")]
    private partial void LogPruneFailed(string reason);
}
