using Microsoft.Extensions.Logging;

namespace Halo.Agent.Drivers;

/// <summary>Managed PostgreSQL log lines (event ids 4101+): setup steps, and the one that replaces a data directory.</summary>
internal static partial class PostgresLog
{
    [LoggerMessage(EventId = 4101, Level = LogLevel.Information, Message = "{Member}: initialising a new database in {DataDirectory} (initdb)")]
    public static partial void InitDb(ILogger logger, string member, string dataDirectory);

    [LoggerMessage(EventId = 4104, Level = LogLevel.Information, Message = "{Member}: copying the database from {Primary} into {DataDirectory} (pg_basebackup)")]
    public static partial void BaseBackup(ILogger logger, string member, string primary, string dataDirectory);

    [LoggerMessage(EventId = 4105, Level = LogLevel.Information, Message = "{Member}: rejoined {Primary} with pg_rewind: {Output}")]
    public static partial void Rewound(ILogger logger, string member, string primary, string output);

    [LoggerMessage(EventId = 4102, Level = LogLevel.Warning,
        Message = "{Member}: rejoin: pg_rewind failed ({Reason}); replacing {DataDirectory} with a fresh pg_basebackup from {Primary}; the old contents are kept in {Aside}")]
    public static partial void Replacing(ILogger logger, string member, string? reason, string dataDirectory, string primary, string aside);

    [LoggerMessage(EventId = 4103, Level = LogLevel.Warning, Message = "{Member}: fenced by {How} in {Milliseconds:0.0} ms")]
    public static partial void FenceTook(ILogger logger, string member, string how, double milliseconds);
}
