using System.Net;
using System.Text;
using Halo.Server.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Halo.Server.Tests.Security;

/// <summary>
/// Generated from the server's own route table: every route, without a token, with a wrong one and with each role.
/// Only the documented role (or one above it) gets through; a route added without a declaration fails here first.
/// </summary>
public sealed class RouteAccessTests
{
    private static readonly HaloRole[] Roles = [HaloRole.Read, HaloRole.Register, HaloRole.Operate, HaloRole.Admin];

    public static IReadOnlyList<(string Method, string Pattern, RouteAccess? Access)> RouteTable(WebApplication app) =>
        ((IEndpointRouteBuilder)app).DataSources.SelectMany(d => d.Endpoints).OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? ["GET"])
                .Select(m => (m, e.RoutePattern.RawText!, e.Metadata.GetMetadata<RouteAccess>())))
            .OrderBy(r => r.Item2, StringComparer.Ordinal).ThenBy(r => r.m, StringComparer.Ordinal).ToList();

    /// <summary>Route values filled with names that exist, so a passing call reaches its handler.</summary>
    public static string Fill(string pattern) => pattern
        .Replace("{service}", "web", StringComparison.Ordinal).Replace("{id}", "w1", StringComparison.Ordinal)
        .Replace("{name}", "g1", StringComparison.Ordinal).Replace("{member}", "m1", StringComparison.Ordinal)
        .Replace("{token}", "no-such-token", StringComparison.Ordinal).Replace("{file}", "dashboard.js", StringComparison.Ordinal);

    [Fact]
    public async Task EveryRoute_WithoutTokenWrongTokenAndEachRole_OnlyTheDocumentedRolesPass()
    {
        // Every call comes from 127.0.0.1: lift the per-source failure limit so the refusals are the gate's, not the limiter's.
        await using var server = await ServerFixture.StartAsync(new ServerOptions { Security = new() { AuthFailuresPerSource = 100_000 } });
        Assert.Equal(HttpStatusCode.Created, (await server.RegisterAsync("web", "w1")).StatusCode);
        Assert.True((await server.Http.PutAsync("/v1/groups/g1", Json("{}"))).IsSuccessStatusCode);
        var tokens = new Dictionary<HaloRole, string>();
        foreach (var role in Roles)
        {
            tokens[role] = await server.CreateTokenAsync("t-" + HaloRoles.Name(role), HaloRoles.Name(role));
        }

        var routes = RouteTable(server.App);
        Assert.True(routes.Count >= 25, $"only {routes.Count} routes found");
        var failures = new List<string>();
        foreach (var (method, pattern, access) in routes)
        {
            if (access is null)
            {
                failures.Add($"{method} {pattern}: no declared role");
                continue;
            }

            var path = Fill(pattern);
            var anonymous = access.Role is null;
            foreach (var (label, token) in new[] { ("no token", (string?)null), ("wrong token", "halo_" + new string('x', 43)) })
            {
                var status = await CallAsync(server, method, path, token);
                var ok = anonymous ? status is not (401 or 403) : status == 401;
                if (!ok) failures.Add($"{method} {path} with {label}: {status}");
            }

            foreach (var role in Roles)
            {
                var status = await CallAsync(server, method, path, tokens[role]);
                // A member's report needs that member's own token below operate: a plain register token is refused.
                var passes = anonymous || role >= access.Role && !(access.Member is not null && role < HaloRole.Operate);
                if (passes ? status is 401 or 403 : status != 403)
                {
                    failures.Add($"{method} {path} as {HaloRoles.Name(role)}: {status} (expected {(passes ? "through" : "403")})");
                }

                if (status >= 500) failures.Add($"{method} {path} as {HaloRoles.Name(role)}: {status}");
            }
        }

        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    [Fact]
    public void EnsureEveryRouteDeclaresAccess_RouteWithoutRole_Throws()
    {
        var app = WebApplication.CreateSlimBuilder().Build();
        app.MapGet("/declared", () => "x").RequireRole(HaloRole.Read);
        app.MapPost("/forgotten", () => "x");

        var error = Assert.Throws<InvalidOperationException>(() => SecurityRegistration.EnsureEveryRouteDeclaresAccess(app));

        Assert.Contains("/forgotten", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("/declared", error.Message, StringComparison.Ordinal);
    }

    internal static async Task<int> CallAsync(ServerFixture server, string method, string path, string? token)
    {
        using var http = server.Client(token);
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (method is "POST" or "PUT" or "PATCH")
        {
            request.Content = Json("{}");
        }

        // Streams: a refusal answers at once; a stream that let the caller in sends its headers with the first event or
        // keep-alive, which the fixture's fake clock never reaches. No answer within 3 s means "through the gate" (0).
        // Any other call must answer; 3 s was its bound too, which a loaded machine (the suite took 8 min under stress-ng)
        // can exceed for a correct answer, so it gets the fixture's 30 s.
        var stream = path.Contains("stream", StringComparison.Ordinal) || path.Contains("watch", StringComparison.Ordinal);
        using var cts = new CancellationTokenSource(stream ? TimeSpan.FromSeconds(3) : TimeSpan.FromSeconds(30));
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
            return (int)response.StatusCode;
        }
        catch (TaskCanceledException) when (cts.IsCancellationRequested && stream)
        {
            return 0;
        }
    }

    internal static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");
}
