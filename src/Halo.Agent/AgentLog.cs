using Microsoft.Extensions.Logging;

namespace Halo.Agent;

/// <summary>Agent log lines; role transitions have their own stable event ids.</summary>
internal static partial class AgentLog
{
    [LoggerMessage(EventId = 4001, Level = LogLevel.Warning, Message = "{Member}: promoted to primary in epoch {Epoch}")]
    public static partial void Promoted(ILogger logger, string member, long epoch);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Information, Message = "{Member}: following {Primary} (epoch {Epoch})")]
    public static partial void Following(ILogger logger, string member, string primary, long epoch);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Warning, Message = "{Member}: fenced (writes refused): {Reason}")]
    public static partial void Fenced(ILogger logger, string member, string reason);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Warning, Message = "{Member}: database down: {Detail}")]
    public static partial void DatabaseDown(ILogger logger, string member, string? detail);

    [LoggerMessage(EventId = 4005, Level = LogLevel.Information, Message = "{Member}: database restarted in place (restart {Count}), fenced")]
    public static partial void Restarted(ILogger logger, string member, int count);

    [LoggerMessage(EventId = 4006, Level = LogLevel.Warning, Message = "{Member}: cannot reach the server: {Error}")]
    public static partial void ServerUnreachable(ILogger logger, string member, string error);

    [LoggerMessage(EventId = 4007, Level = LogLevel.Warning, Message = "{Member}: drill {Mode} carried out")]
    public static partial void Drill(ILogger logger, string member, string mode);

    [LoggerMessage(EventId = 4008, Level = LogLevel.Error, Message = "{Member}: database command failed")]
    public static partial void CommandFailed(ILogger logger, string member, Exception error);

    [LoggerMessage(EventId = 4009, Level = LogLevel.Warning, Message = "{Member}: failsafe {On} (writes accepted on the members' promises while no server renews the lease)")]
    public static partial void Failsafe(ILogger logger, string member, bool on);

    [LoggerMessage(EventId = 4010, Level = LogLevel.Information, Message = "{Member}: failsafe promise to {Primary} (epoch {Epoch}): {Outcome}")]
    public static partial void PromiseAnswered(ILogger logger, string member, string? primary, long epoch, string outcome);

    [LoggerMessage(EventId = 4011, Level = LogLevel.Information, Message = "{Member}: failsafe promise from {Peer} (epoch {Epoch}): {Outcome}")]
    public static partial void PromiseAsked(ILogger logger, string member, string peer, long epoch, string outcome);
}
