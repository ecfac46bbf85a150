using Microsoft.Extensions.Logging;

namespace Halo.Server.Groups;

/// <summary>Failover log lines; each transition has its own stable event id so alerts and tests can key on it.</summary>
internal static partial class GroupLog
{
    [LoggerMessage(EventId = 3001, Level = LogLevel.Warning, Message = "Group {Group}: {Member} is primary in epoch {Epoch} ({Cause}), previously {Previous}; {Evidence}")]
    public static partial void LeaderChanged(ILogger logger, string group, string member, long epoch, string cause, string? previous, string? evidence);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Information, Message = "Group {Group}: {Member} confirmed primary in epoch {Epoch} after {Seconds:0.000}s")]
    public static partial void Promoted(ILogger logger, string group, string member, long epoch, double seconds);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "Group {Group}: failover needed ({Cause}) but no member qualifies: {Skipped}")]
    public static partial void NoCandidate(ILogger logger, string group, string cause, string skipped);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Information, Message = "Group {Group}: compare-and-set of the leader record lost to a concurrent change; re-reading")]
    public static partial void LostRace(ILogger logger, string group);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Warning, Message = "Group {Group}: member {Member} reports its database down")]
    public static partial void DatabaseDown(ILogger logger, string group, string member);

    [LoggerMessage(EventId = 3006, Level = LogLevel.Information, Message = "Group {Group}: switchover to {Member} {Outcome}")]
    public static partial void Switchover(ILogger logger, string group, string member, string outcome);

    [LoggerMessage(EventId = 3007, Level = LogLevel.Information, Message = "Group {Group}: automatic failover {State}")]
    public static partial void Paused(ILogger logger, string group, string state);

    [LoggerMessage(EventId = 3008, Level = LogLevel.Warning, Message = "Group {Group}: drill {Mode} of primary {Member} started")]
    public static partial void Drill(ILogger logger, string group, string mode, string member);

    [LoggerMessage(EventId = 3010, Level = LogLevel.Information, Message = "Group {Group}: position round {Round} opened ({Cause}): asking every agent for its final position")]
    public static partial void RoundOpened(ILogger logger, string group, long round, string cause);

    [LoggerMessage(EventId = 3011, Level = LogLevel.Error, Message = "Group {Group}: failover needed ({Cause}) but BLOCKED, nobody promoted: {Reason}")]
    public static partial void Blocked(ILogger logger, string group, string cause, string reason);

    [LoggerMessage(EventId = 3009, Level = LogLevel.Error, Message = "Group controller tick failed for {Group}")]
    public static partial void TickFailed(ILogger logger, string group, Exception error);

    [LoggerMessage(EventId = 3010, Level = LogLevel.Information, Message = "Group {Group}: commits now wait for {Names} (degraded: {Degraded})")]
    public static partial void SynchronousChanged(ILogger logger, string group, string names, bool degraded);

    [LoggerMessage(EventId = 3020, Level = LogLevel.Warning, Message = "Group {Group}: this server decides it now (epoch {Epoch}, primary {Primary}, confirmed {Confirmed}); no decision for {Grace} s while the agents reach it")]
    public static partial void Acquired(ILogger logger, string group, long epoch, string? primary, bool confirmed, double grace);

    [LoggerMessage(EventId = 3021, Level = LogLevel.Information, Message = "Group {Group}: decided by another server now")]
    public static partial void Released(ILogger logger, string group);

    [LoggerMessage(EventId = 3022, Level = LogLevel.Warning, Message = "Group {Group}: its decider {Owner} did not answer ({Reason}); reports are answered from the store until it does or another server takes over")]
    public static partial void DeciderUnreachable(ILogger logger, string group, string owner, string reason);

    [LoggerMessage(EventId = 3023, Level = LogLevel.Warning, Message = "Group {Group}: the lease of {Member} (epoch {Epoch}) lapsed; restored under a new lease in the same epoch, no failover")]
    public static partial void LeaseRestored(ILogger logger, string group, string member, long epoch);

    [LoggerMessage(EventId = 3024, Level = LogLevel.Warning, Message = "Group {Group}: renewing the lease of primary {Member} took {Ms:0} ms here (turn {TurnMs:0} ms, report writes {WritesMs:0} ms, renewal {RenewMs:0} ms)")]
    public static partial void SlowRenewal(ILogger logger, string group, string member, double ms, double turnMs, double writesMs, double renewMs);

    [LoggerMessage(EventId = 3025, Level = LogLevel.Warning, Message = "Group {Group}: answering a report of {Member} from the store took {Ms:0} ms (before the store was asked {ForwardMs:0} ms: reading the report, routing, the forward; store {StoreMs:0} ms; renewed {Renewed})")]
    public static partial void SlowStoreAnswer(ILogger logger, string group, string member, double ms, double forwardMs, double storeMs, bool renewed);

    [LoggerMessage(EventId = 3026, Level = LogLevel.Warning, Message = "Group {Group}: the previous decider left '{Pending}' unfinished; it is over (nothing changes unless the leader record says so) and the primary's writes are not held")]
    public static partial void SwitchoverInterrupted(ILogger logger, string group, string pending);
}
