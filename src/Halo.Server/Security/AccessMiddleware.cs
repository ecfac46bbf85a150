using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace Halo.Server.Security;

/// <summary>
/// The one gate every request passes after routing: Host allow-list (DNS rebinding), cross-origin and media-type checks
/// on mutating calls (a browser page cannot forge one), then the bearer token, its role and its scope against the
/// route's <see cref="RouteAccess"/>. A route without a declaration is refused: access is never an afterthought.
/// </summary>
internal sealed class AccessMiddleware(
    RequestDelegate next, SecurityOptions options, HostAllowList hosts, TokenService tokens, AuthFailureLimiter limiter, SecurityMetrics metrics, Audit audit,
    StreamSlots streams)
{
    public Task InvokeAsync(HttpContext context)
    {
        if (!hosts.Allows(context.Request.Host))
        {
            metrics.Refused("host");
            return Refuse(context, StatusCodes.Status421MisdirectedRequest, "Host not allowed",
                $"Host '{context.Request.Host.Host}' is not in the allow-list (DNS rebinding protection; see --allowed-host)", "Host");
        }

        var endpoint = context.GetEndpoint();
        if (endpoint is null)
        {
            return next(context);
        }

        var access = endpoint.Metadata.GetMetadata<RouteAccess>();
        if (access is null)
        {
            // Routing's own 405 answer is the one endpoint we do not map; anything else undeclared is a bug, refused.
            if (endpoint.DisplayName?.StartsWith("405 ", StringComparison.Ordinal) == true)
            {
                return next(context);
            }

            metrics.Refused("undeclared");
            return Refuse(context, StatusCodes.Status403Forbidden, "Forbidden", "this route declares no role", null);
        }

        if (!HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method) && BrowserForgery(context) is { } forged)
        {
            metrics.Refused(forged.Reason);
            return Refuse(context, forged.Status, forged.Title, forged.Detail, forged.Field);
        }

        if (access.Role is not { } required || access.IsMetrics && options.MetricsAnonymous)
        {
            return next(context);
        }

        Caller caller;
        if (options.AllowAnonymous)
        {
            caller = Caller.Anonymous;
        }
        else
        {
            var source = Caller.Ip(context);
            if (limiter.IsLimited(source))
            {
                metrics.AuthFailed("rate_limited");
                context.Response.Headers.RetryAfter = "10";
                return Refuse(context, StatusCodes.Status429TooManyRequests, "Too many failed authentications",
                    "this address sent too many requests with a wrong or missing token; wait and retry", "Authorization");
            }

            var (token, reason) = Authenticate(context.Request.Headers.Authorization.ToString());
            if (token is null)
            {
                limiter.Failed(source);
                metrics.AuthFailed(reason);
                context.Response.Headers.WWWAuthenticate = "Bearer realm=\"halo\"";
                return Refuse(context, StatusCodes.Status401Unauthorized, "Unauthorized", reason switch
                {
                    "missing" => "send Authorization: Bearer <token> (halo token create; docs/security.md)",
                    "malformed" => "the Authorization header must be 'Bearer <token>'",
                    _ => "the token is not known (revoked, or never issued)",
                }, "Authorization");
            }

            caller = Caller.FromToken(token);
        }

        if (caller.Role < required)
        {
            metrics.Refused("role");
            return Refuse(context, StatusCodes.Status403Forbidden, "Forbidden",
                $"this call needs the {HaloRoles.Name(required)} role; token '{caller.Name}' has {HaloRoles.Name(caller.Role)}", "Authorization");
        }

        // Scope limits what a token may change, not what it may read: the global reads (catalog, events) already show every
        // service, so refusing a scoped token the watch or another service's instances hid nothing, and it kept an app that
        // registers itself and discovers others from doing both with its own scoped token.
        if (required > HaloRole.Read && (caller.IsScoped || access.Member is not null) && OutOfScope(context, access, caller) is { } scope)
        {
            metrics.Refused("scope");
            return Refuse(context, StatusCodes.Status403Forbidden, "Forbidden", scope, "Authorization");
        }

        context.Features.Set(caller);
        if (endpoint.Metadata.GetMetadata<HoldsStream>() is { } stream && stream.AppliesTo(context.Request))
        {
            if (!streams.TryEnter(caller.Name, out var refusedBy))
            {
                metrics.Refused("streams");
                context.Response.Headers.RetryAfter = "1";
                return Refuse(context, StatusCodes.Status429TooManyRequests, "Too many open streams",
                    refusedBy == "limits.maxStreams"
                        ? $"the server holds {options.Limits.MaxStreams} watches, blocking queries and event streams ({refusedBy}); close one or retry later"
                        : $"token '{caller.Name}' holds {options.Limits.MaxStreamsPerToken} watches, blocking queries and event streams ({refusedBy}); close one or retry later",
                    refusedBy);
            }

            return HoldingAsync(context, access, caller);
        }

        return RunAsync(context, access, caller);
    }

    private async Task HoldingAsync(HttpContext context, RouteAccess access, Caller caller)
    {
        try
        {
            await RunAsync(context, access, caller).ConfigureAwait(false);
        }
        finally
        {
            streams.Leave(caller.Name);
        }
    }

    private Task RunAsync(HttpContext context, RouteAccess access, Caller caller)
    {
        if (!access.Audited || HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method))
        {
            return next(context);
        }

        return AuditedAsync(context, caller);
    }

    private async Task AuditedAsync(HttpContext context, Caller caller)
    {
        AuditScope.Begin(new Halo.Core.Registry.EventActor(caller.Name, HaloRoles.Name(caller.Role), Caller.Address(context)));
        await next(context).ConfigureAwait(false);
        if (context.Response.StatusCode < 400 && AuditScope.Current is { Recorded: false })
        {
            await audit.RecordAsync(context.Request.Method, context, CancellationToken.None).ConfigureAwait(false);
        }
    }

    private (TokenRecord? Token, string Reason) Authenticate(string header)
    {
        if (header.Length == 0)
        {
            return (null, "missing");
        }

        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || header.Length > 600)
        {
            return (null, "malformed");
        }

        return tokens.Authenticate(header.AsSpan(7).Trim()) is { } token ? (token, "") : (null, "unknown");
    }

    private sealed record Forgery(string Reason, int Status, string Title, string Detail, string Field);

    /// <summary>
    /// A cross-site page can send simple requests (form content types, or no body) without a preflight; browsers mark
    /// them with Origin and Sec-Fetch-Site. Refusing those, and any non-JSON body, leaves a page no way to change state.
    /// </summary>
    private static Forgery? BrowserForgery(HttpContext context)
    {
        var headers = context.Request.Headers;
        var site = headers["Sec-Fetch-Site"].ToString();
        if (site is "cross-site" or "same-site")
        {
            return new Forgery("cross_origin", StatusCodes.Status403Forbidden, "Cross-origin request refused", $"Sec-Fetch-Site is {site}", "Origin");
        }

        var origin = headers.Origin.ToString();
        if (origin.Length > 0 && (!Uri.TryCreate(origin, UriKind.Absolute, out var o) || !string.Equals(o.Authority, context.Request.Host.Value, StringComparison.OrdinalIgnoreCase)))
        {
            return new Forgery("cross_origin", StatusCodes.Status403Forbidden, "Cross-origin request refused", $"Origin {origin} is not this server", "Origin");
        }

        if (context.Request.ContentType is { Length: > 0 } type && !IsJson(type))
        {
            return new Forgery("media_type", StatusCodes.Status415UnsupportedMediaType, "Unsupported media type", "send application/json", "Content-Type");
        }

        return null;
    }

    private static bool IsJson(string type) =>
        MediaTypeHeaderValue.TryParse(type, out var media) && media.MediaType.Value is { } value
        && (value.Equals("application/json", StringComparison.OrdinalIgnoreCase) || value.EndsWith("+json", StringComparison.OrdinalIgnoreCase));

    private static string? OutOfScope(HttpContext context, RouteAccess access, Caller caller)
    {
        if (access.Service is { } serviceValue && serviceValue != RouteAccess.CheckedByHandler)
        {
            var service = Value(context, serviceValue);
            if (service is null ? caller.Services is not null : !caller.CoversService(service))
            {
                return service is null ? $"token '{caller.Name}' is scoped to services; name one" : $"token '{caller.Name}' does not cover service {service}";
            }
        }

        if (access.Group is { } groupValue)
        {
            var group = Value(context, groupValue);
            if (group is not null && !caller.CoversGroup(group))
            {
                return $"token '{caller.Name}' does not cover group {group}";
            }

            if (access.Member is { } memberValue && caller.Role < HaloRole.Operate && caller.Member != $"{group}/{Value(context, memberValue)}")
            {
                return caller.Member is null
                    ? $"token '{caller.Name}' is not bound to a member; only a member's own token (or operate) may report for it"
                    : $"token '{caller.Name}' reports only as {caller.Member}";
            }
        }

        if (access.Service is null && access.Group is null)
        {
            return $"token '{caller.Name}' is scoped; this call is not about one service or group";
        }

        return null;
    }

    private static string? Value(HttpContext context, string name) =>
        context.Request.RouteValues.TryGetValue(name, out var v) && v is string s ? s
        : context.Request.Query.TryGetValue(name, out var q) && q.Count == 1 ? q[0]
        : null;

    private static Task Refuse(HttpContext context, int status, string title, string detail, string? field)
    {
        var extensions = field is null ? null : new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { [field] = [detail] } };
        return Results.Problem(title: title, detail: detail, statusCode: status, extensions: extensions).ExecuteAsync(context);
    }
}

/// <summary>The Host values a server answers to (<see cref="SecurityOptions.AllowedHosts"/>).</summary>
internal sealed class HostAllowList
{
    private readonly HashSet<string>? _hosts;
    private readonly bool _loopback;

    public HostAllowList(SecurityOptions security, ServerOptions server)
    {
        if (security.AllowedHosts is { Count: > 0 } hosts)
        {
            _hosts = new HashSet<string>(hosts.Select(h => h.Trim('[', ']')), StringComparer.OrdinalIgnoreCase);
        }
        else if (SecurityOptions.IsLoopback(server.Listen))
        {
            _hosts = new HashSet<string>(["localhost"], StringComparer.OrdinalIgnoreCase);
            _loopback = true;
        }
    }

    public bool Allows(HostString host)
    {
        if (_hosts is null)
        {
            return true;
        }

        var name = host.Host.Trim('[', ']');
        return _hosts.Contains(name) || _loopback && IPAddress.TryParse(name, out var ip) && IPAddress.IsLoopback(ip);
    }
}
