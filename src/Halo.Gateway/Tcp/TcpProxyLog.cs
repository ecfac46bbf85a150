using Microsoft.Extensions.Logging;

namespace Halo.Gateway.Tcp;

internal static partial class TcpProxyLog
{
    [LoggerMessage(EventId = 5001, Level = LogLevel.Warning, Message = "TCP proxy {Group}/{Role}: epoch {Epoch}, primary {Primary} (confirmed: {Confirmed})")]
    public static partial void RouteChanged(ILogger logger, string group, string role, long epoch, string? primary, bool confirmed);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Warning, Message = "TCP proxy {Group}: closed {Count} connections to the primary of epoch {Epoch}")]
    public static partial void ClosedOld(ILogger logger, string group, int count, long epoch);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Warning, Message = "TCP proxy {Group}: cannot follow the server: {Error}")]
    public static partial void FeedFailed(ILogger logger, string group, string error);
}
