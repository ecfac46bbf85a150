using Halo.Gateway.Telemetry;
using Microsoft.Extensions.Logging;

namespace Halo.Gateway.Routing;

/// <summary>Holds the current routing table; readers take a reference, writers swap it atomically.</summary>
public sealed class RoutingTableHolder
{
    private readonly GatewayMetrics _metrics;
    private readonly ILogger<RoutingTableHolder> _logger;
    private RoutingTable? _current;

    /// <summary>Creates the holder.</summary>
    public RoutingTableHolder(GatewayMetrics metrics, ILogger<RoutingTableHolder> logger)
    {
        _metrics = metrics;
        _logger = logger;
    }

    /// <summary>The table in use, or null before the first one is built.</summary>
    public RoutingTable? Current => Volatile.Read(ref _current);

    /// <summary>Publishes a new table.</summary>
    public void Publish(RoutingTable table)
    {
        ArgumentNullException.ThrowIfNull(table);
        Volatile.Write(ref _current, table);
        _metrics.SetRevision(table.Revision);
        if (_logger.IsEnabled(LogLevel.Information))
        {
            var clusters = table.Routes.Select(r => r.Cluster).Distinct().ToList();
            var destinations = clusters.Sum(c => c.AllMembers.Count());
            Log.TablePublished(_logger, table.Revision, clusters.Count, destinations);
        }
    }
}
