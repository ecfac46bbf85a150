using Halo.Core;
using Halo.Core.Failover;
using Halo.Core.Registry;
using Halo.Server.Api;
using Halo.Server.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace Halo.Server.Groups;

/// <summary>The groups API (docs/failover.md): policy, status with long-poll, agent reports, switchover, pause, drills.</summary>
public static class GroupEndpoints
{
    public static IEndpointRouteBuilder MapGroups(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/groups", ListAsync).RequireRole(HaloRole.Read);
        app.MapPut("/v1/groups/{name}", PutAsync).RequireRole(HaloRole.Operate, group: "name");
        app.MapGet("/v1/groups/{name}", GetAsync).RequireRole(HaloRole.Read, group: "name");
        app.MapPost("/v1/groups/{name}/members/{member}/report", ReportAsync).RequireRole(HaloRole.Register, group: "name", member: "member", audited: false);
        app.MapPost("/v1/groups/{name}/switchover", SwitchoverAsync).RequireRole(HaloRole.Operate, group: "name");
        app.MapPost("/v1/groups/{name}/pause", (string name, HttpContext c) => SetPausedAsync(name, true, c)).RequireRole(HaloRole.Operate, group: "name");
        app.MapPost("/v1/groups/{name}/resume", (string name, HttpContext c) => SetPausedAsync(name, false, c)).RequireRole(HaloRole.Operate, group: "name");
        app.MapPost("/v1/groups/{name}/drill", DrillAsync).RequireRole(HaloRole.Operate, group: "name");
        return app;
    }

    private static GroupRegistry Registry(HttpContext c) => c.RequestServices.GetService(typeof(GroupRegistry)) as GroupRegistry
        ?? throw new InvalidOperationException("AddHaloGroups was not called");

    private static async Task<(GroupRuntime? Group, IResult? Error)> FindAsync(string name, HttpContext c)
    {
        if (!Names.IsValid(name))
        {
            return (null, Problems.Invalid("name", $"invalid group name: {Names.Rule}"));
        }

        var registry = Registry(c);
        await registry.EnsureLoadedAsync();
        return registry.Find(name) is { } g ? (g, null) : (null, Problems.NotFound($"no group named '{name}'"));
    }

    private static async Task<IResult> ListAsync(GroupRegistry registry)
    {
        await registry.EnsureLoadedAsync();
        var now = registry.Time.GetUtcNow();
        return TypedResults.Ok(new GroupList(registry.All.Select(g => g.Status(now)).ToList()));
    }

    private static async Task<IResult> PutAsync(string name, HttpContext c, ServerOptions options)
    {
        if (!Names.IsValid(name))
        {
            return Problems.Invalid("name", $"invalid group name: {Names.Rule}");
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
        var created = await registry.PutPolicyAsync(name, policy!, null, c.RequestAborted);
        var status = registry.Find(name)!.Status(registry.Time.GetUtcNow());
        return created ? TypedResults.Created($"/v1/groups/{name}", status) : TypedResults.Ok(status);
    }

    private static async Task<IResult> GetAsync(string name, string? index, string? wait, HttpContext c, GroupsOptions options)
    {
        var (g, error) = await FindAsync(name, c);
        if (error is not null)
        {
            return error;
        }

        var registry = Registry(c);
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

            Task changed;
            lock (g!.Gate)
            {
                changed = g.ChangedAfter(after);
            }

            try
            {
                await changed.WaitAsync(waitFor, registry.Time, c.RequestAborted);
            }
            catch (TimeoutException)
            {
            }
        }

        return TypedResults.Ok(g!.Status(registry.Time.GetUtcNow()));
    }

    private static async Task<IResult> ReportAsync(string name, string member, HttpContext c, ServerOptions options)
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

        var (report, bodyError) = await JsonBody.ReadAsync<MemberReport>(c, options.MaxRequestBodyBytes);
        if (bodyError is not null)
        {
            return bodyError;
        }

        var errors = new Dictionary<string, string[]>();
        if (!Halo.Core.Networking.HostPort.TryParse(report!.Address, out _))
        {
            errors["address"] = [Halo.Core.Networking.HostPort.Rule];
        }

        if (report.Offset < 0) errors["offset"] = ["must not be negative"];
        if (report.Epoch < 0) errors["epoch"] = ["must not be negative"];
        if (errors.Count > 0)
        {
            return Problems.Invalid(errors);
        }

        return TypedResults.Ok(await Registry(c).ReportAsync(g!, member, report, c.RequestAborted));
    }

    private static async Task<IResult> SwitchoverAsync(string name, HttpContext c, ServerOptions options, GroupSwitchover switchover)
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

        var outcome = await switchover.RunAsync(g!, request.To, c.RequestAborted);
        if (outcome.Succeeded)
        {
            return TypedResults.Ok(g!.Status(Registry(c).Time.GetUtcNow()));
        }

        return outcome.Field is { } field && outcome.Message.StartsWith("unknown", StringComparison.Ordinal) ? Problems.Invalid(field, outcome.Message)
            : TypedResults.Problem(title: "Switchover refused", detail: outcome.Field is null ? outcome.Message : $"{outcome.Field}: {outcome.Message}",
                statusCode: StatusCodes.Status409Conflict, extensions: outcome.Field is null ? null : new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { [outcome.Field] = [outcome.Message] } });
    }

    private static async Task<IResult> SetPausedAsync(string name, bool paused, HttpContext c)
    {
        var (g, error) = await FindAsync(name, c);
        if (error is not null)
        {
            return error;
        }

        var registry = Registry(c);
        await registry.PutPolicyAsync(name, g!.Policy with { Paused = paused }, paused ? EventTypes.Paused : EventTypes.Resumed, c.RequestAborted);
        if (c.RequestServices.GetService(typeof(ILogger<GroupRegistry>)) is ILogger logger)
        {
            GroupLog.Paused(logger, name, paused ? "paused" : "resumed");
        }
        return TypedResults.Ok(g.Status(registry.Time.GetUtcNow()));
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

        var duration = request.Duration ?? g!.Policy.LeaseTtl * 3;
        if (duration < TimeSpan.FromMilliseconds(100) || duration > TimeSpan.FromMinutes(10))
        {
            return Problems.Invalid("duration", "must be between 100ms and 10m");
        }

        var registry = Registry(c);
        var now = registry.Time.GetUtcNow();
        PendingDrill drill;
        lock (g!.Gate)
        {
            if (g.Leader is not { } leader || !g.Confirmed)
            {
                return TypedResults.Problem(title: "Drill refused", detail: "the group has no confirmed primary", statusCode: StatusCodes.Status409Conflict);
            }

            drill = new PendingDrill(now.ToUnixTimeMilliseconds() * 1000 + Interlocked.Increment(ref _drills) % 1000, leader.Member, request.Mode, duration, now);
            g.Drill = drill;
            g.Bump();
        }

        if (c.RequestServices.GetService(typeof(ILogger<GroupRegistry>)) is ILogger logger)
        {
            GroupLog.Drill(logger, name, drill.Mode, drill.Member);
        }
        return TypedResults.Accepted($"/v1/groups/{name}", new { drillId = drill.Id, member = drill.Member, mode = drill.Mode, epoch = g.Leader!.Epoch, at = now });
    }
}
