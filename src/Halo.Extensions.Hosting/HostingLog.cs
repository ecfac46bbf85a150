using Microsoft.Extensions.Logging;

namespace Halo.Extensions.Hosting;

/// <summary>Log events of self-registration (ids 7100–7199), stable so alerts and tests can key on them.</summary>
internal static partial class HostingLog
{
    [LoggerMessage(EventId = 7100, Level = LogLevel.Information, Message = "Registered {Service}/{Instance} at {Address} with Halo")]
    public static partial void Registered(ILogger logger, string service, string instance, Uri address);

    [LoggerMessage(EventId = 7101, Level = LogLevel.Warning, Message = "Halo unreachable ({Error}); retrying in {Delay}, the application keeps serving")]
    public static partial void ServerAway(ILogger logger, string error, TimeSpan delay);

    [LoggerMessage(EventId = 7102, Level = LogLevel.Information, Message = "Halo forgot {Service}/{Instance} (server restart or store loss); registering again")]
    public static partial void Forgotten(ILogger logger, string service, string instance);

    [LoggerMessage(EventId = 7103, Level = LogLevel.Warning, Message = "Health checks report {Status}: {Service}/{Instance} leaves rotation (draining)")]
    public static partial void LeftRotation(ILogger logger, string status, string service, string instance);

    [LoggerMessage(EventId = 7104, Level = LogLevel.Information, Message = "Health checks report {Status}: {Service}/{Instance} is back in rotation")]
    public static partial void Rejoined(ILogger logger, string status, string service, string instance);

    [LoggerMessage(EventId = 7105, Level = LogLevel.Information, Message = "Stopping: {Service} draining, {InFlight} requests in flight, deregistering after at most {Bound}")]
    public static partial void Draining(ILogger logger, string service, int inFlight, TimeSpan bound);

    [LoggerMessage(EventId = 7106, Level = LogLevel.Information, Message = "Deregistered {Service}/{Instance} ({InFlight} requests still in flight)")]
    public static partial void Deregistered(ILogger logger, string service, string instance, int inFlight);

    [LoggerMessage(EventId = 7107, Level = LogLevel.Warning, Message = "Halo registration loop failed; continuing")]
    public static partial void LoopFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 7108, Level = LogLevel.Warning, Message = "Could not deregister {Service}/{Instance} at stop ({Error}); the server will mark it down when heartbeats stop")]
    public static partial void DeregisterFailed(ILogger logger, string service, string instance, string error);
}
