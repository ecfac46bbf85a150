using System.Globalization;
using Halo.Core;
using Halo.Core.Failover;
using Halo.Core.Registry;
using Halo.Server.Api;
using Halo.Server.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Halo.Server.Groups;

/// <summary>
/// The groups API (docs/failover.md): policy, status with long-poll, agent reports, switchover, pause, drills, deletion.
/// Routing and validation only: every change is made by the group's <see cref="GroupActor"/>.
/// </summary>
public static class GroupEndpoints
{
    public static IEndpointRouteBuilder MapGroups(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/groups", ListAsync).RequireRole(HaloRole.Read);
        app.MapPut("/v1/groups/{name}", PutAsync).RequireRole(HaloRole.Operate, group: "name");
        app.MapGet("/v1/groups/{name}", GetAsync).RequireRole(HaloRole.Read, group: "name").HoldsStream(whenQuery: "index");
        app.MapDelete("/v1/groups/{name}", DeleteAsync).RequireRole(HaloRole.Operate, group: "name");
        app.MapPost("/v1/groups/{name}/members/{member}/report", ReportAsync).RequireRole(HaloRole.Register, group: "name", member: "member", audited: false);
        app.MapDelete("/v1/groups/{name}/members/{member}", DeleteMemberAsync).RequireRole(HaloRole.Operate, group: "name");
        app.MapPost("/v1/groups/{name}/switchover", SwitchoverAsync).RequireRole(HaloRole.Operate, group: "name");
        app.MapPost("/v1/groups/{name}/pause", (string name, HttpContext c) => SetPausedAsync(name, true, c)).RequireRole(HaloRole.Operate, group: "name");
        app.MapPost("/v1/groups/{name}/resume", (string name, HttpContext c) => SetPausedAsync(name, false, c)).RequireRole(HaloRole.Operate, group: "name");
        app.MapPost("/v1/groups/{name}/drill", DrillAsync).RequireRole(HaloRole.Operate, group: "name");
        return app;
    }

    private static GroupRegistry Registry(HttpContext c) => c.RequestServices.GetService(typeof(GroupRegistry)) as GroupRegistry
        ?? throw new InvalidOperationException("AddHaloGroups was not called");

    private static GroupRouter Router(HttpContext c) => c.RequestServices.GetService(typeof(GroupRouter)) as GroupRouter
        ?? throw new InvalidOperationException("AddHaloGroups was not called");

    /// <summary>With several servers, hands the call to the server that decides the group; null when it is answered here.</summary>
    private static async Task<IResult?> ElsewhereAsync(string name, HttpContext c)
    {
        var router = Router(c);
        var (route, owner) = await router.RouteAsync(name, c, c.RequestAborted);
        return route switch
        {
            GroupRouter.Route.Here => null,
            GroupRouter.Route.Owner => await router.ForwardAsync(owner!, c, null, router.TimeoutFor(c)) ?? GroupRouter.DeciderAway(name, owner),
            _ => GroupRouter.DeciderAway(name, owner),
        };
    }

    private static async Task<(GroupActor? Group, IResult? Error)> FindAsync(string name, HttpContext c, bool route = true)
    {
        if (!Names.IsValid(name))
        {
            return (null, Problems.Invalid("name", $"invalid group name: {Names.Rule}"));
        }

        if (route && await ElsewhereAsync(name, c) is { } elsewhere)
        {
            return (null, elsewhere);
        }

        var registry = Registry(c);
        await registry.EnsureLoadedAsync();
        return registry.Find(name) is { Deleted: false } g ? (g, null) : (null, Problems.NotFound($"no group named '{name}'"));
    }

    private static IResult Conflict(string title, string detail, string? field = null) => TypedResults.Problem(
        title: title, detail: field is null ? detail : $"{field}: {detail}", statusCode: StatusCodes.Status409Conflict,
        extensions: field is null ? null : new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { [field] = [detail] } });

    private static GroupStatus Status(GroupActor g, HttpContext c) => g.State.Status(Registry(c).Time.GetUtcNow());

    private static async Task<IResult> ListAsync(GroupRegistry registry, HttpContext c)
    {
        await registry.EnsureLoadedAsync();
        var router = Router(c);
        var statuses = new List<GroupStatus>();
        foreach (var g in registry.All.ToList())
        {
            var (route, owner) = await router.RouteAsync(g.Name, c, c.RequestAborted);
            var status = route == GroupRouter.Route.Here ? g.State.Status(registry.Time.GetUtcNow())
                : route == GroupRouter.Route.Owner ? await router.StatusFromOwnerAsync(owner!, g.Name, c.Request.Headers.Authorization, c.RequestAborted)
                : null;
            if (status is null)
            {
                return GroupRouter.DeciderAway(g.Name, owner);
            }

            statuses.Add(status);
        }

        return TypedResults.Ok(new GroupList(statuses));
    }

    private static async Task<IResult> PutAsync(string name, HttpContext c, ServerOptions options)
    {
        if (!Names.IsValid(name))
        {
            return Problems.Invalid("name", $"invalid group name: {Names.Rule}");
        }

        if (await ElsewhereAsync(name, c) is { } elsewhere)
        {
            return elsewhere;
        }

        long? ifMatch = null;
        if (c.Request.Headers.IfMatch.ToString() is { Length: > 0 } header)
        {
            if (!long.TryParse(header.Trim().Trim('"'), NumberStyles.None, CultureInfo.InvariantCulture, out var revision))
            {
                return Problems.Invalid("If-Match", "must be the policyRevision of the group's status (0: only if the group does not exist)");
            }

            ifMatch = revision;
        }

        var (policy, error) = await JsonBody.ReadAsync<GroupPolicy>(c, options.MaxRequestBodyBytes);
        if (error is not null)
        {
            return error;
        }

        var errors = GroupPolicyValidator.Validate(policy);
        if (errors.Count > 0)
        {
            return Problems.Invalid(errors);
        }

        var registry = Registry(c);
        var (state, created) = await registry.PutPolicyAsync(name, policy!, ifMatch, c.RequestAborted);
        if (state is null)
        {
            return TypedResults.Problem(title: "Policy changed", statusCode: StatusCodes.Status412PreconditionFailed,
                detail: $"If-Match: the policy is no longer revision {ifMatch}; read the group again (policyRevision) and retry");
        }

        c.Response.Headers.ETag = $"\"{state.PolicyRevision.ToString(CultureInfo.InvariantCulture)}\"";
        var status = state.Status(registry.Time.GetUtcNow());
        return created ? TypedResults.Created($"/v1/groups/{name}", status) : TypedResults.Ok(status);
    }

    private static async Task<IResult> GetAsync(string name, string? index, string? wait, HttpContext c, GroupsOptions options)
    {
        var (g, error) = await FindAsync(name, c);
        if (error is not null)
        {
            return error;
        }

        if (index is not null)
        {
            if (!long.TryParse(index, out var after) || after < 0)
            {
                return Problems.Invalid("index", "must be a non-negative integer version");
            }

            var waitFor = options.MaxWatchWait;
            if (wait is not null && (!Durations.TryParse(wait, out waitFor) || waitFor < TimeSpan.Zero || waitFor > options.MaxWatchWait))
            {
                return Problems.Invalid("wait", $"must be a duration between 0s and {Durations.Format(options.MaxWatchWait)}");
            }

            try
            {
                await g!.ChangedAfter(after).WaitAsync(waitFor, Registry(c).Time, c.RequestAborted);
            }
            catch (TimeoutException)
            {
            }
        }

        return TypedResults.Ok(Status(g!, c));
    }

    private static async Task<IResult> DeleteAsync(string name, HttpContext c)
    {
        var (g, error) = await FindAsync(name, c);
        if (error is not null)
        {
            return error;
        }

        return await Registry(c).DeleteAsync(g!, c.RequestAborted) is { } refused ? Conflict("Group not deleted", refused) : TypedResults.NoContent();
    }

    private static async Task<IResult> ReportAsync(string name, string member, HttpContext c, ServerOptions options)
    {
        // Timed from here, not after the body is read: a slow answer to a primary (event 3025) then counts the body read and
        // the routing too (scn, 2026-11-29: under stress-ng --cpu 8 the survivors' first answers after a decider kill took
        // 1.1-1.3 s, and no 3025 said where).
        var arrived = Router(c).Now;
        var (g, error) = await FindAsync(name, c, route: false);
        if (error is not null)
        {
            return error;
        }

        if (!Names.IsValid(member))
        {
            return Problems.Invalid("member", $"invalid member name: {Names.Rule}");
        }

        var (report, bodyError) = await JsonBody.ReadAsync<MemberReport>(c, options.MaxRequestBodyBytes);
        if (bodyError is not null)
        {
            return bodyError;
        }

        var errors = new Dictionary<string, string[]>();
        var colon = report!.Address.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(report.Address.AsSpan(colon + 1), out var port) || port is < 1 or > 65535)
        {
            errors["address"] = ["must be host:port with a port between 1 and 65535"];
        }

        if (report.Offset < 0) errors["offset"] = ["must not be negative"];
        if (report.Epoch < 0) errors["epoch"] = ["must not be negative"];
        if (report.Round < 0) errors["round"] = ["must not be negative"];
        if (errors.Count > 0)
        {
            return Problems.Invalid(errors);
        }

        var router = Router(c);
        var (route, owner) = await router.RouteAsync(name, c, c.RequestAborted);
        if (route == GroupRouter.Route.Here)
        {
            return TypedResults.Ok(await g!.ReportAsync(member, report, c.RequestAborted));
        }

        Task<Assignment?> FromStore(CancellationToken ct) => router.AnswerFromStoreAsync(name, member, report, ct);
        if (route == GroupRouter.Route.Owner && !router.RecentlyUnreachable(owner!))
        {
            // The decider's answer if it comes; if it is slow, the store's, asked beside it (ReportHedge).
            var answer = await router.ForwardReportAsync(owner!, c, report, FromStore);
            if (answer.FromDecider is { } decided)
            {
                return decided;
            }

            router.SlowStoreAnswer(name, member, arrived, answer.StoreAsked, answer.FromStore);
            return StoreAnswer(name, owner, answer.FromStore);
        }

        // The decider is away or changing: keep a running primary running until it is back (GroupRouter.AnswerFromStoreAsync).
        var asking = router.Now;
        var assignment = await FromStore(c.RequestAborted);
        router.SlowStoreAnswer(name, member, arrived, asking, assignment);
        return StoreAnswer(name, owner, assignment);
    }

    /// <summary>
    /// A report's answer from the store. To the recorded primary it is worth something only when it renewed the lease: "hold
    /// writes, nothing renewed" is what the primary does anyway at its deadline, and as a quick 200 it would win the agent's
    /// hedged report over the decider's slower answer — the only one that can renew a fenced primary or restore a lapsed
    /// lease (seen under stress-ng: a fenced primary's copies answered by a non-decider in 20 ms beat the new decider's for two
    /// seconds). So that answer is 503 "decider unavailable": the agent's other copies, one of them at the decider, decide.
    /// </summary>
    private static IResult StoreAnswer(string group, Cluster.Member? owner, Assignment? assignment) => assignment switch
    {
        null => Problems.NotFound($"no group named '{group}'"),
        { Role: MemberRole.Primary, LeaseRenewed: false } => GroupRouter.DeciderAway(group, owner),
        _ => TypedResults.Ok(assignment),
    };

    private static async Task<IResult> DeleteMemberAsync(string name, string member, HttpContext c)
    {
        var (g, error) = await FindAsync(name, c);
        if (error is not null)
        {
            return error;
        }

        if (!Names.IsValid(member))
        {
            return Problems.Invalid("member", $"invalid member name: {Names.Rule}");
        }

        if (!g!.State.Members.ContainsKey(member))
        {
            return Problems.NotFound($"no member named '{member}' in group '{name}'");
        }

        return await g.DeleteMemberAsync(member, c.RequestAborted) is { } refused ? Conflict("Member not deleted", refused, "member") : TypedResults.NoContent();
    }

    private static async Task<IResult> SwitchoverAsync(string name, HttpContext c, ServerOptions options)
    {
        var (g, error) = await FindAsync(name, c);
        if (error is not null)
        {
            return error;
        }

        var (request, bodyError) = await JsonBody.ReadAsync<SwitchoverRequest>(c, options.MaxRequestBodyBytes);
        if (bodyError is not null)
        {
            return bodyError;
        }

        if (string.IsNullOrEmpty(request!.To) || !Names.IsValid(request.To))
        {
            return Problems.Invalid("to", $"a member name is required: {Names.Rule}");
        }

        var outcome = await g!.SwitchoverAsync(request.To, c.RequestAborted);
        if (outcome.Succeeded)
        {
            return TypedResults.Ok(Status(g, c));
        }

        return outcome.Field is { } field && outcome.Message.StartsWith("unknown", StringComparison.Ordinal) ? Problems.Invalid(field, outcome.Message)
            : Conflict("Switchover refused", outcome.Message, outcome.Field);
    }

    private static async Task<IResult> SetPausedAsync(string name, bool paused, HttpContext c)
    {
        var (g, error) = await FindAsync(name, c);
        if (error is not null)
        {
            return error;
        }

        // Read-modify-write inside the group's turn, compare-and-set on the stored policy: a concurrent policy edit is kept.
        var state = await g!.UpdatePolicyAsync(p => p with { Paused = paused }, null, paused ? EventTypes.Paused : EventTypes.Resumed, c.RequestAborted);
        if (state is null)
        {
            return Conflict("Policy changed", "the policy kept changing; retry");
        }

        return TypedResults.Ok(Status(g, c));
    }

    private static long _drills;

    private static async Task<IResult> DrillAsync(string name, HttpContext c, ServerOptions options)
    {
        var (g, error) = await FindAsync(name, c);
        if (error is not null)
        {
            return error;
        }

        var (request, bodyError) = await JsonBody.ReadAsync<DrillRequest>(c, options.MaxRequestBodyBytes);
        if (bodyError is not null)
        {
            return bodyError;
        }

        if (request!.Mode is not ("kill" or "isolate"))
        {
            return Problems.Invalid("mode", "must be kill or isolate");
        }

        var duration = request.Duration ?? g!.State.Policy.LeaseTtl * 3;
        if (duration < TimeSpan.FromMilliseconds(100) || duration > TimeSpan.FromMinutes(10))
        {
            return Problems.Invalid("duration", "must be between 100ms and 10m");
        }

        var now = Registry(c).Time.GetUtcNow();
        var id = now.ToUnixTimeMilliseconds() * 1000 + Interlocked.Increment(ref _drills) % 1000;
        if (await g!.StartDrillAsync(request.Mode, duration, id, c.RequestAborted) is not { } drill)
        {
            return Conflict("Drill refused", "the group has no confirmed primary");
        }

        return TypedResults.Accepted($"/v1/groups/{name}", new { drillId = drill.Id, member = drill.Member, mode = drill.Mode, epoch = g.State.Leader!.Epoch, at = drill.At });
    }
}
