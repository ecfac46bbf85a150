using Microsoft.Extensions.Logging;

namespace Halo.Gateway.Telemetry;

/// <summary>Gateway log messages. Event ids are stable: alerts and tests key on them.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 6001, Level = LogLevel.Information, Message = "Gateway listening on {Address}")]
    public static partial void Listening(ILogger logger, string address);

    [LoggerMessage(EventId = 6002, Level = LogLevel.Information, Message = "Routing table {Revision} published: {Clusters} clusters, {Destinations} destinations")]
    public static partial void TablePublished(ILogger logger, long revision, int clusters, int destinations);

    [LoggerMessage(EventId = 6010, Level = LogLevel.Information, Message = "Change feed connected to {Server} from revision {Revision}")]
    public static partial void FeedConnected(ILogger logger, Uri server, long revision);

    [LoggerMessage(EventId = 6011, Level = LogLevel.Warning, Message = "Change feed from {Server} lost ({Error}); serving the last known routing table (revision {Revision})")]
    public static partial void FeedLost(ILogger logger, Uri server, string error, long revision);

    [LoggerMessage(EventId = 6012, Level = LogLevel.Warning, Message = "Change feed update rejected: {Reason}; keeping routing table {Revision}")]
    public static partial void FeedUpdateRejected(ILogger logger, string reason, long revision);

    [LoggerMessage(EventId = 6013, Level = LogLevel.Information, Message = "Change feed reset (history compacted); re-reading the catalog")]
    public static partial void FeedReset(ILogger logger);

    [LoggerMessage(EventId = 6020, Level = LogLevel.Warning, Message = "Destination {Destination} in cluster {Cluster} ejected for {Duration} after consecutive failures")]
    public static partial void Ejected(ILogger logger, string cluster, string destination, TimeSpan duration);

    [LoggerMessage(EventId = 6021, Level = LogLevel.Warning, Message = "Destination {Destination} in cluster {Cluster} is now {State} by active probe")]
    public static partial void ProbeStateChanged(ILogger logger, string cluster, string destination, string state);

    [LoggerMessage(EventId = 6022, Level = LogLevel.Warning, Message = "Cluster {Cluster} is in panic: {Healthy} of {Total} destinations healthy, health ignored")]
    public static partial void Panic(ILogger logger, string cluster, int healthy, int total);

    [LoggerMessage(EventId = 6030, Level = LogLevel.Debug, Message = "Retry budget of cluster {Cluster} exhausted")]
    public static partial void BudgetExhausted(ILogger logger, string cluster);

    [LoggerMessage(EventId = 6040, Level = LogLevel.Information, Message = "Server {Server} does not accept failure reports (404); will retry later")]
    public static partial void ReportsUnsupported(ILogger logger, Uri server);

    [LoggerMessage(EventId = 6041, Level = LogLevel.Debug, Message = "Failure report for {Service}/{Instance} failed: {Error}")]
    public static partial void ReportFailed(ILogger logger, string service, string instance, string error);

    [LoggerMessage(EventId = 6050, Level = LogLevel.Error, Message = "Background loop {Loop} failed; continuing")]
    public static partial void LoopFailed(ILogger logger, string loop, Exception exception);

    [LoggerMessage(EventId = 6060, Level = LogLevel.Debug, Message = "Fast-path connection {Connection} ended: {Reason}")]
    public static partial void FastPathConnectionEnded(ILogger logger, string connection, string reason);

    [LoggerMessage(EventId = 6061, Level = LogLevel.Error, Message = "Fast-path connection {Connection} failed unexpectedly; closed")]
    public static partial void FastPathFailed(ILogger logger, string connection, Exception exception);
}
