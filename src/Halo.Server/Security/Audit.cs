using Halo.Core.Registry;
using Halo.Server.Events;
using Halo.Store;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Halo.Server.Security;

/// <summary>
/// The audit trail: every successful state-changing call becomes an `audit` event naming the token, the role it holds
/// and the caller's address. Heartbeats and reports are excluded (they are the steady stream, not decisions).
/// </summary>
internal sealed partial class Audit(IStore store, EventLog events, TimeProvider time, ILogger<Audit> logger)
{
    /// <summary>Records the current call of <paramref name="context"/> (after it succeeded) as "METHOD route-pattern".</summary>
    public Task RecordAsync(string method, HttpContext context, CancellationToken ct)
    {
        var pattern = (context.GetEndpoint() as Microsoft.AspNetCore.Routing.RouteEndpoint)?.RoutePattern.RawText ?? context.Request.Path.Value;
        return RecordAsync(context, $"{method} {pattern}", $"{method} {context.Request.Path} -> {context.Response.StatusCode}", ct);
    }

    /// <summary>Builds the event synchronously (the context is not touched after the first await) and stores it.</summary>
    public async Task RecordAsync(HttpContext context, string action, string? what, CancellationToken ct)
    {
        var caller = Caller.Of(context) ?? Caller.Anonymous;
        var values = context.Request.RouteValues;
        var subject = values.TryGetValue("service", out var s) && s is string service ? service
            : values.TryGetValue("name", out var g) && g is string group ? group
            : "halo";
        var e = new RegistryEvent
        {
            Type = EventTypes.Audit,
            Time = time.GetUtcNow(),
            Service = subject,
            Instance = values.TryGetValue("id", out var i) ? i as string : values.TryGetValue("member", out var m) ? m as string : null,
            Cause = what ?? action,
            Evidence = new Dictionary<string, object?> { ["action"] = action, ["status"] = context.Response.StatusCode },
            Actor = new EventActor(caller.Name, HaloRoles.Name(caller.Role), Caller.Address(context)),
        };
        try
        {
            await store.TxnAsync(new TxnRequest([], [events.Append(e)], []), ct).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // The change itself is done; a lost audit line is logged, never turned into a failed call.
            LogAuditLost(ex, action, caller.Name);
        }
    }

    [LoggerMessage(EventId = 1602, Level = LogLevel.Warning, Message = "Audit event for {Action} by token {Token} could not be stored")]
    private partial void LogAuditLost(Exception ex, string action, string token);
}
