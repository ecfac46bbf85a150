using Halo.Server.Security;
using Halo.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Halo.Server.Api;

/// <summary>
/// GET /v1/snapshot: the whole control-plane state (instances, drain flags, groups and policies, event history, tokens'
/// hashes) at one store revision, in the format `halo snapshot restore` loads into any store (docs/ha.md). Admin only:
/// it holds every token's hash.
/// </summary>
internal static class SnapshotEndpoints
{
    public static void MapSnapshot(this IEndpointRouteBuilder app) => app.MapGet("/v1/snapshot", SaveAsync).RequireRole(HaloRole.Admin);

    private static async Task SaveAsync(HttpContext context, IStore store, TimeProvider time)
    {
        var snapshot = await StoreSnapshot.TakeAsync(store, time, context.RequestAborted);
        context.Response.ContentType = "application/json";
        context.Response.Headers["X-Halo-Index"] = snapshot.Revision.ToString(System.Globalization.CultureInfo.InvariantCulture);
        await snapshot.WriteAsync(context.Response.Body, context.RequestAborted);
    }
}
