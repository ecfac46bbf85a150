using Halo.Core.Registry;
using Halo.Server.Cluster;
using Halo.Server.Registry;
using Halo.Server.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Halo.Server.Api;

/// <summary>The servers among themselves: who is a member and owns what, and heartbeats forwarded to their owner.</summary>
internal static class ClusterEndpoints
{
    /// <summary>A forwarded heartbeat older than this is a stale batch (a stalled sender), not evidence of life now.</summary>
    private static readonly TimeSpan OldestForwarded = TimeSpan.FromSeconds(30);

    public static void MapCluster(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/cluster", Describe).RequireRole(HaloRole.Read);
        // Only servers send these, with their own admin credential: a register token must not be able to vouch for others.
        app.MapPost("/v1/internal/heartbeats", ForwardedAsync).RequireRole(HaloRole.Admin, audited: false);
    }

    private static async Task<IResult> Describe(ServerMembership membership, InstanceRegistry registry, Groups.GroupRegistry groups, ServerOptions options)
    {
        await groups.EnsureLoadedAsync();
        var view = membership.Current;
        return TypedResults.Ok(new
        {
            clustered = view.Clustered,
            self = view.Clustered ? membership.Id : null,
            member = !view.Clustered || view.Self is not null,
            revision = view.Revision,
            memberTtl = options.MemberTtl,
            members = view.Clustered
                ? view.Members.Select(m => new
                {
                    id = m.Id,
                    url = m.Url,
                    fencingRevision = m.CreateRevision,
                    services = registry.ServiceNames.Where(s => view.OwnerOf(s)?.Id == m.Id).Order(StringComparer.Ordinal).ToList(),
                    // The failover groups this member decides (docs/ha.md, "One decider per group").
                    groups = groups.All.Select(g => g.Name).Where(g => view.OwnerOf(g)?.Id == m.Id).ToList(),
                }).Cast<object>().ToList()
                : [],
        });
    }

    private static async Task<IResult> ForwardedAsync(HttpContext context, InstanceRegistry registry, ServerOptions options)
    {
        var (batch, error) = await JsonBody.ReadAsync<HeartbeatForwarder.Batch>(context, options.MaxBatchBodyBytes);
        if (error is not null)
        {
            return error;
        }

        if (batch!.Heartbeats is not { } items)
        {
            return Problems.Invalid("heartbeats", "required: a list of {service, id, ageMs}");
        }

        for (var i = 0; i < items.Count; i++)
        {
            if (items[i] is not { } item || !Names.IsValid(item.Service) || !Names.IsValid(item.Id) || item.AgeMs < 0)
            {
                return Problems.Invalid($"heartbeats[{i}]", $"service and id must match {Names.Rule}; ageMs must be 0 or more");
            }
        }

        int accepted = 0, elsewhere = 0;
        foreach (var item in items)
        {
            var age = TimeSpan.FromMilliseconds(item.AgeMs);
            if (age <= OldestForwarded && registry.ForwardedHeartbeat(item.Service!, item.Id!, age))
            {
                accepted++;
            }
            else
            {
                elsewhere++;
            }
        }

        return TypedResults.Ok(new { accepted, notJudgedHere = elsewhere });
    }
}
