using System.Runtime.CompilerServices;
using System.Text.Json;
using Halo.Core.Registry;
using Halo.Core.Serialization;
using Halo.Server.Cluster;
using Halo.Server.Events;
using Halo.Server.Registry;
using Halo.Server.Security;
using Halo.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Halo.Server.Api;

/// <summary>The event history: a list to page through and a live SSE stream.</summary>
internal static class EventEndpoints
{
    private static readonly HashSet<string> KnownTypes = [.. EventTypes.All];

    /// <summary>How long a read waits for this server's copy of the history to reach the store's revision before answering from it anyway.</summary>
    public static readonly TimeSpan CatchUpWait = TimeSpan.FromSeconds(2);

    public static void MapEvents(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/events", ListAsync).RequireRole(HaloRole.Read);
        app.MapGet("/v1/events/stream", StreamAsync).RequireRole(HaloRole.Read).HoldsStream();
    }

    private static async Task<IResult> ListAsync(
        string? after, string? limit, string? service, string? type, EventLog events, StoreFollower follower, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>();
        var since = ParseRevision(after, "after", errors);
        var take = 100;
        if (limit is not null && (!int.TryParse(limit, out take) || take is < 1 or > 10_000))
        {
            errors["limit"] = ["must be an integer between 1 and 10000"];
        }

        if (service is not null && !Names.IsValid(service)) errors["service"] = [$"invalid service name: {Names.Rule}"];
        if (type is not null && !KnownTypes.Contains(type)) errors["type"] = [$"must be one of: {string.Join(", ", KnownTypes)}"];
        if (errors.Count > 0)
        {
            return Problems.Invalid(errors);
        }

        await follower.CatchUpAsync(CatchUpWait, ct);
        var list = events.List(since, take, service, type);
        return TypedResults.Ok(new { events = list });
    }

    private static async Task<IResult> StreamAsync(string? after, HttpContext context, IStore store, ServerOptions options, TimeProvider time)
    {
        var errors = new Dictionary<string, string[]>();
        var resume = context.Request.Headers["Last-Event-ID"].ToString();
        var since = ParseRevision(string.IsNullOrEmpty(resume) ? after : resume, "after", errors);
        if (errors.Count > 0)
        {
            return Problems.Invalid(errors);
        }

        if (after is null && string.IsNullOrEmpty(resume))
        {
            since = await store.GetRevisionAsync(context.RequestAborted);
        }

        await ServerSentEvents.StreamAsync(context, Feed(store, since, context.RequestAborted), options.StreamKeepAlive, time);
        return TypedResults.Empty;
    }

    private static async IAsyncEnumerable<ServerSentEvents.Message> Feed(IStore store, long after, [EnumeratorCancellation] CancellationToken ct)
    {
        await foreach (var change in store.WatchAsync(RegistryKeys.EventsPrefix, after, ct))
        {
            if (change.Type == WatchEventType.Put && EventLog.Read(change.Item) is { } e)
            {
                yield return new ServerSentEvents.Message(e.Type, e.Revision, JsonSerializer.Serialize(e, HaloJson.Options));
            }
        }
    }

    private static long ParseRevision(string? text, string field, Dictionary<string, string[]> errors)
    {
        if (text is null)
        {
            return 0;
        }

        if (!long.TryParse(text, out var value) || value < 0)
        {
            errors[field] = ["must be a non-negative integer revision"];
        }

        return value;
    }
}
