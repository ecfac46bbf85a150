using Halo.Core;
using Halo.Core.Detection;
using Halo.Core.Registry;
using Halo.Server.Cluster;
using Halo.Server.Registry;
using Halo.Server.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Halo.Server.Api;

/// <summary>The registry's HTTP API (docs/api.md): register, heartbeat, drain, list, blocking queries and the change feed.</summary>
internal static class RegistryEndpoints
{
    public static void MapRegistry(this IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/v1");
        v1.MapPut("/services/{service}/instances/{id}", RegisterAsync).RequireRole(HaloRole.Register, service: "service");
        v1.MapDelete("/services/{service}/instances/{id}", DeregisterAsync).RequireRole(HaloRole.Register, service: "service");
        v1.MapPost("/services/{service}/instances/{id}/heartbeat", Heartbeat).RequireRole(HaloRole.Register, service: "service", audited: false);
        v1.MapPost("/heartbeats", HeartbeatManyAsync).RequireRole(HaloRole.Register, service: RouteAccess.CheckedByHandler, audited: false);
        v1.MapPut("/services/{service}/instances/{id}/drain", DrainAsync).RequireRole(HaloRole.Operate, service: "service");
        v1.MapPost("/services/{service}/instances/{id}/reports", ReportAsync).RequireRole(HaloRole.Register, service: "service", audited: false);
        v1.MapGet("/services", ListServices).RequireRole(HaloRole.Read);
        v1.MapGet("/services/{service}/instances", ListInstancesAsync).RequireRole(HaloRole.Read, service: "service").HoldsStream(whenQuery: "index");
        v1.MapGet("/catalog", CatalogAsync).RequireRole(HaloRole.Read);
        v1.MapGet("/watch", WatchAsync).RequireRole(HaloRole.Read, service: "service").HoldsStream();
    }

    private static async Task<IResult> RegisterAsync(
        string service, string id, HttpContext context, InstanceRegistry registry, ServerOptions options, CheckNetworkPolicy checkNetworks)
    {
        var (request, error) = await JsonBody.ReadAsync<RegistrationRequest>(context, options.MaxRequestBodyBytes);
        if (error is not null)
        {
            return error;
        }

        var errors = RegistrationValidator.Validate(service, id, request!, registry.BaselineDetector(service), out var record, out _);
        if (errors.Count > 0)
        {
            return Problems.Invalid(errors);
        }

        if (OwnAddressRefusal(context, options.Security, record!.Address) is { } notOwn)
        {
            return Problems.Forbidden("address", notOwn);
        }

        // A server-run check dials the address: refuse one outside the allowed networks before anything is stored.
        if (record!.Check is not null && await checkNetworks.RefusalAsync(record.Address, context.RequestAborted) is { } refusal)
        {
            return Problems.Invalid("address", refusal);
        }

        if (registry.CapacityRefusal(service, id, options.Security.Limits) is var (key, detail))
        {
            return Problems.OverLimit(key, detail);
        }

        var (stored, created) = await registry.RegisterAsync(record!, context.RequestAborted);
        var view = registry.View(stored);
        return created
            ? new JsonAnswer<InstanceRecord>(StatusCodes.Status201Created, view, $"/v1/services/{service}/instances/{id}")
            : new JsonAnswer<InstanceRecord>(StatusCodes.Status200OK, view);
    }

    /// <summary>
    /// With server.registrations.ownAddressOnly, why a register token may not register <paramref name="address"/>: it must
    /// be the IP address the connection comes from, written as an address (a name could be pointed anywhere later).
    /// </summary>
    private static string? OwnAddressRefusal(HttpContext context, SecurityOptions security, string address)
    {
        if (!security.OwnAddressOnly || Caller.Of(context) is not { Role: < HaloRole.Operate } caller)
        {
            return null;
        }

        var own = Caller.Ip(context);
        if (own is not null && System.Net.IPAddress.TryParse(address.Trim('[', ']'), out var ip)
            && (ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip).Equals(own))
        {
            return null;
        }

        return $"token '{caller.Name}' (role register) may register only its own address {own?.ToString() ?? "(unknown)"} "
            + $"under server.registrations.ownAddressOnly; '{address}' is not it (an operate token may register any address)";
    }

    private static async Task<IResult> DeregisterAsync(string service, string id, InstanceRegistry registry, CancellationToken ct) =>
        !ValidNames(service, id, out var bad) ? bad
        : await registry.DeregisterAsync(service, id, ct) ? TypedResults.NoContent()
        : Problems.NotFound($"no instance {id} in service {service}");

    // The hot path: look up first and validate names only on a miss (an invalid name can never be registered).
    private static IResult Heartbeat(string service, string id, InstanceRegistry registry) =>
        registry.Heartbeat(service, id) ? TypedResults.NoContent()
        : !ValidNames(service, id, out var bad) ? bad
        : Problems.NotFound($"no instance {id} in service {service}; register it first");

    public sealed record HeartbeatBatch(List<InstanceRef>? Instances);

    public sealed record InstanceRef(string? Service, string? Id);

    private static async Task<IResult> HeartbeatManyAsync(HttpContext context, InstanceRegistry registry, ServerOptions options)
    {
        var (batch, error) = await JsonBody.ReadAsync<HeartbeatBatch>(context, options.MaxBatchBodyBytes);
        if (error is not null)
        {
            return error;
        }

        if (batch!.Instances is not { } refs)
        {
            return Problems.Invalid("instances", "required: a list of {service, id}");
        }

        var caller = Caller.Of(context);
        for (var i = 0; i < refs.Count; i++)
        {
            if (refs[i] is null || !Names.IsValid(refs[i].Service) || !Names.IsValid(refs[i].Id))
            {
                return Problems.Invalid($"instances[{i}]", $"service and id are required and must match: {Names.Rule}");
            }

            if (caller is not null && !caller.CoversService(refs[i].Service!))
            {
                return TypedResults.Problem(title: "Forbidden", detail: $"instances[{i}]: token '{caller.Name}' does not cover service {refs[i].Service}",
                    statusCode: StatusCodes.Status403Forbidden);
            }
        }

        var unknown = new List<InstanceRef>();
        foreach (var r in refs)
        {
            if (!registry.Heartbeat(r.Service!, r.Id!))
            {
                unknown.Add(r);
            }
        }

        return TypedResults.Ok(new { accepted = refs.Count - unknown.Count, unknown });
    }

    public sealed record DrainRequest(bool? Draining);

    private static async Task<IResult> DrainAsync(string service, string id, HttpContext context, InstanceRegistry registry, ServerOptions options)
    {
        if (!ValidNames(service, id, out var bad))
        {
            return bad;
        }

        var (request, error) = await JsonBody.ReadAsync<DrainRequest>(context, options.MaxRequestBodyBytes);
        if (error is not null)
        {
            return error;
        }

        if (request!.Draining is not { } draining)
        {
            return Problems.Invalid("draining", "required: true or false");
        }

        return await registry.DrainAsync(service, id, draining, context.RequestAborted) is { } record
            ? TypedResults.Ok(registry.View(record))
            : Problems.NotFound($"no instance {id} in service {service}");
    }

    /// <summary>A caller's (gateway's) account of requests to one instance over a window (docs/gateway.md).</summary>
    public sealed record ReportRequest(
        string? Reporter, string? Cluster, TimeSpan? Window, long? Requests, long? Failures,
        long? ConnectFailures, long? Timeouts, long? ServerErrors, bool? Ejected);

    private static async Task<IResult> ReportAsync(
        string service, string id, HttpContext context, InstanceRegistry registry, HeartbeatForwarder forwarder, ServerOptions options)
    {
        var (report, error) = await JsonBody.ReadAsync<ReportRequest>(context, options.MaxRequestBodyBytes);
        if (error is not null)
        {
            return error;
        }

        var errors = new Dictionary<string, string[]>();
        if (!ValidNames(service, id, out var bad))
        {
            return bad;
        }

        var r = report!;
        if (string.IsNullOrWhiteSpace(r.Reporter) || r.Reporter.Length > 200) errors["reporter"] = ["required: who observed it, at most 200 characters"];
        if (r.Requests is not { } requests || requests is < 0 or > 1_000_000_000) errors["requests"] = ["required: between 0 and 1000000000"];
        if (r.Failures is not { } failures || failures < 0 || failures > (r.Requests ?? 0)) errors["failures"] = ["required: between 0 and requests"];
        if (r.Window is { } window && (window <= TimeSpan.Zero || window > TimeSpan.FromHours(1))) errors["window"] = ["must be between 0s and 1h"];
        foreach (var (field, value) in new[] { ("connectFailures", r.ConnectFailures), ("timeouts", r.Timeouts), ("serverErrors", r.ServerErrors) })
        {
            if (value is < 0 || value > (r.Failures ?? 0)) errors[field] = ["must be between 0 and failures"];
        }

        if (errors.Count > 0)
        {
            return Problems.Invalid(errors);
        }

        var route = registry.RouteReport(service, id, r.Reporter!, r.Requests!.Value, r.Failures!.Value);
        if (!route.Known)
        {
            return Problems.NotFound($"no instance {id} in service {service}");
        }

        if (route.Verdict is { } verdict)
        {
            return TypedResults.Accepted((string?)null, new { verdict.Failing, verdict.Requests, verdict.Failures, verdict.Reporters });
        }

        // Judged by another server: hand it over once (never again, while views of the membership disagree).
        if (route.Owner is not { } owner || context.Request.Headers.ContainsKey(HeartbeatForwarder.ForwardedHeader))
        {
            return Problems.Unavailable($"the server that judges {service} is changing; retry");
        }

        try
        {
            var (status, body) = await forwarder.ForwardReportAsync(owner, service, id, r, context.RequestAborted);
            return Results.Text(body, status >= 400 ? "application/problem+json" : "application/json", statusCode: status);
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException && !context.RequestAborted.IsCancellationRequested)
        {
            return Problems.Unavailable($"the server that judges {service} ({owner.Url}) did not answer; retry");
        }
    }

    private static IResult ListServices(InstanceRegistry registry, ChangeIndex index)
    {
        var services = registry.ServiceNames.Order(StringComparer.Ordinal).Select(name =>
        {
            var live = registry.Entries(name);
            var entries = live.Select(e => e.Record).ToList();
            return new
            {
                // The same arithmetic `halo model --from-config` prints: worst case from last heartbeat to critical.
                detectionBound = live.Count == 0 ? null : Durations.Format(live.Max(e => DetectionBound.Compute(registry.DetectorFor(e.Record)).Total)),
                name,
                instances = entries.Count,
                passing = entries.Count(r => r.Health == HealthStatus.Passing),
                suspect = entries.Count(r => r.Health == HealthStatus.Suspect),
                critical = entries.Count(r => r.Health == HealthStatus.Critical),
                draining = entries.Count(r => r.Draining),
                brakeEngaged = registry.IsBrakeEngaged(name),
            };
        }).Where(s => s.instances > 0).ToList();
        return TypedResults.Ok(new { revision = index.Global, services });
    }

    private static async Task<IResult> ListInstancesAsync(
        string service, string? health, string? index, string? wait, HttpContext context,
        InstanceRegistry registry, ChangeIndex changes, ServerOptions options, TimeProvider time)
    {
        if (!Names.IsValid(service))
        {
            return Problems.Invalid("service", $"invalid service name: {Names.Rule}");
        }

        if (!TryParseHealth(health, out var filter))
        {
            return Problems.Invalid("health", "must be passing, suspect or critical (comma-separated for several)");
        }

        long? sinceIndex = null;
        if (index is not null)
        {
            if (!long.TryParse(index, out var parsed) || parsed < 0)
            {
                return Problems.Invalid("index", "must be a non-negative integer revision");
            }

            sinceIndex = parsed;
        }

        var waitFor = options.MaxBlockingWait;
        if (wait is not null && (!Durations.TryParse(wait, out waitFor) || waitFor < TimeSpan.Zero || waitFor > options.MaxBlockingWait))
        {
            return Problems.Invalid("wait", $"must be a duration between 0s and {Durations.Format(options.MaxBlockingWait)}");
        }

        long revision;
        if (sinceIndex is { } since)
        {
            revision = await changes.WaitAsync(service, since, waitFor, time, context.RequestAborted);
        }
        else
        {
            revision = changes.Get(service);
            if (registry.Entries(service).Count == 0)
            {
                return Problems.NotFound($"unknown service {service}");
            }
        }

        var instances = registry.Entries(service).Select(e => registry.View(e.Record))
            .Where(r => filter is null || filter.Contains(r.Health))
            .OrderBy(r => r.Id, StringComparer.Ordinal).ToList();
        context.Response.Headers["X-Halo-Index"] = revision.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return TypedResults.Ok(new { service, revision, instances });
    }

    private static async Task<IResult> CatalogAsync(RegistryFeed feed, CancellationToken ct)
    {
        var (revision, instances) = await feed.CatalogAsync(ct);
        return TypedResults.Ok(new { revision, instances });
    }

    private static async Task<IResult> WatchAsync(
        string? service, string? from, HttpContext context, RegistryFeed feed, ServerOptions options, TimeProvider time)
    {
        if (service is not null && !Names.IsValid(service))
        {
            return Problems.Invalid("service", $"invalid service name: {Names.Rule}");
        }

        var resume = context.Request.Headers["Last-Event-ID"].ToString();
        var start = string.IsNullOrEmpty(resume) ? from : resume;
        long after;
        if (start is null)
        {
            after = await feed.RevisionAsync(context.RequestAborted);
        }
        else if (!long.TryParse(start, out after) || after < 0)
        {
            return Problems.Invalid("from", "must be a non-negative integer revision");
        }

        await ServerSentEvents.StreamAsync(context, feed.ChangesAsync(service, after, context.RequestAborted), options.StreamKeepAlive, time);
        return TypedResults.Empty;
    }

    private static bool ValidNames(string service, string id, out IResult error)
    {
        var errors = new Dictionary<string, string[]>();
        if (!Names.IsValid(service)) errors["service"] = [$"invalid service name: {Names.Rule}"];
        if (!Names.IsValid(id)) errors["id"] = [$"invalid instance id: {Names.Rule}"];
        error = errors.Count > 0 ? Problems.Invalid(errors) : null!;
        return errors.Count == 0;
    }

    private static bool TryParseHealth(string? text, out HashSet<HealthStatus>? filter)
    {
        filter = null;
        if (string.IsNullOrEmpty(text))
        {
            return true;
        }

        filter = [];
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!Enum.TryParse<HealthStatus>(part, ignoreCase: true, out var h) || !Enum.IsDefined(h) || int.TryParse(part, out _))
            {
                return false;
            }

            filter.Add(h);
        }

        return filter.Count > 0;
    }
}
