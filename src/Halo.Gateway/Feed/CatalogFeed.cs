using Halo.Client;
using Halo.Core.Balancing;
using Halo.Gateway.Configuration;
using Halo.Gateway.Routing;
using Halo.Gateway.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Halo.Gateway.Feed;

/// <summary>
/// Feeds the routing table from the control plane through Halo.Client's <see cref="CatalogWatcher"/>: the catalog, then
/// the change feed from its revision, resumed on any server after a disconnect and re-read after a reset. Each change
/// swaps in a new routing table; while no server answers the last table keeps serving and the metrics say the feed is stale.
/// </summary>
public sealed class CatalogFeed : BackgroundService
{
    private readonly GatewaySettings _settings;
    private readonly CatalogWatcher _watcher;

    /// <summary>Creates the feed consumer.</summary>
    public CatalogFeed(GatewaySettings settings, HaloClient client, RoutingTableBuilder builder, RoutingTableHolder holder, GatewayMetrics metrics,
        TimeProvider time, IRandomFactory random, ILogger<CatalogFeed> logger)
    {
        _settings = settings;
        _watcher = new CatalogWatcher(client, time: time, random: random)
        {
            // `halo model` predicts re-routing after a feed loss with gateway.feedRetry: never wait longer than that.
            MaxBackoff = settings.FeedRetry,
            Published = snapshot => holder.Publish(builder.Build(snapshot.Instances, snapshot.Revision)),
            Connected = (server, from) =>
            {
                metrics.SetFeedState(connected: true, stale: false);
                Log.FeedConnected(logger, server ?? client.CurrentServer!, from ?? 0);
            },
            Lost = ex =>
            {
                metrics.SetFeedState(connected: false, stale: true);
                Log.FeedLost(logger, client.CurrentServer!, ex.Message, _watcher!.Revision);
            },
            Reset = () => Log.FeedReset(logger),
            Rejected = problem =>
            {
                metrics.FeedRejected();
                Log.FeedUpdateRejected(logger, problem, holder.Current?.Revision ?? 0);
            },
        };
    }

    /// <summary>Revision of the last change applied.</summary>
    public long Revision => _watcher.Revision;

    /// <inheritdoc />
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        _settings.UsesRegistry ? _watcher.RunAsync(stoppingToken) : Task.CompletedTask;
}
