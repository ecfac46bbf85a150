using System.Net;
using System.Text;
using CsCheck;
using Halo.Server.Security;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Builder;

namespace Halo.Server.Tests.Security;

/// <summary>
/// Random methods, paths, query strings, headers and JSON bodies, aimed at every route of a real server (CsCheck). The
/// server must answer each without a 5xx and without hanging, and a refused request (4xx) must store nothing: the store
/// revision is the same before and after it.
/// </summary>
public sealed class FuzzTests
{
    private const int Cases = 2_000;

    private sealed record Case(string Method, string Path, string? Authorization, string? ContentType, string? Origin, string? Host, string? Body, bool LongLived)
    {
        public override string ToString() =>
            $"{Method} {Path} auth={Authorization?[..Math.Min(12, Authorization.Length)]} type={ContentType} origin={Origin} host={Host} body={Body?[..Math.Min(200, Body.Length)]}";
    }

    private static readonly Gen<string> Query = Gen.Select(Gen.OneOf("index", "wait", "health", "service", "from", "after", "type", "limit", "before", "since", "group", "window"), FuzzInputs.Word)
        .Array[0, 3].Select(pairs => pairs.Length == 0 ? "" : "?" + string.Join('&', pairs.Select(p => $"{p.Item1}={FuzzInputs.Escape(p.Item2)}")));

    [Fact]
    public async Task EveryRoute_RandomRequests_No5xxNoHangNothingStoredWhenRefused()
    {
        // Every call comes from 127.0.0.1 with many wrong tokens: lift the failure limit so handlers, not the limiter, answer.
        await using var server = await ServerFixture.StartAsync(new ServerOptions { Security = new() { AuthFailuresPerSource = 1_000_000 } });
        Assert.Equal(HttpStatusCode.Created, (await server.RegisterAsync("web", "w1")).StatusCode);
        Assert.True((await server.Http.PutAsync("/v1/groups/g1", RouteAccessTests.Json("{}"))).IsSuccessStatusCode);
        var routes = RouteAccessTests.RouteTable(server.App);
        var longLived = ((IEndpointRouteBuilder)server.App).DataSources.SelectMany(d => d.Endpoints).OfType<RouteEndpoint>()
            .Where(e => e.Metadata.GetMetadata<HoldsStream>() is not null).Select(e => e.RoutePattern.RawText!).ToHashSet(StringComparer.Ordinal);
        var admin = "Bearer " + server.AdminToken;
        var reader = "Bearer " + await server.CreateTokenAsync("fuzz-reader", "read");

        var segment = Gen.Frequency((6, Gen.Const("")), (1, Gen.OneOf("..", "%2F", "%00", "a%20b", new string('a', 300), "w1", "g1", "web")), (1, FuzzInputs.Word.Select(FuzzInputs.Escape)));
        var gen =
            from route in Gen.OneOf(routes.ToArray())
            from method in Gen.Frequency((8, Gen.Const(route.Method)), (1, Gen.OneOf("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "FOO")))
            from values in segment.Array[4]
            from query in Query
            from auth in Gen.Frequency((7, Gen.Const<string?>(admin)), (1, Gen.Const<string?>(reader)), (1, Gen.Const((string?)null)),
                (1, FuzzInputs.Word.Select(w => (string?)("Bearer " + w))), (1, Gen.Const<string?>("Basic YWRtaW46YWRtaW4=")))
            from type in Gen.Frequency((6, Gen.Const<string?>("application/json")), (1, Gen.Const((string?)null)), (1, Gen.Const<string?>("text/plain")),
                (1, Gen.Const<string?>("application/merge-patch+json")), (1, Gen.Const<string?>("application/x-www-form-urlencoded")), (1, Gen.Const<string?>("multipart/form-data; boundary=x")))
            from origin in Gen.Frequency((8, Gen.Const((string?)null)), (1, Gen.Const<string?>("http://evil.example")), (1, Gen.Const<string?>("null")))
            from host in Gen.Frequency((15, Gen.Const((string?)null)), (1, Gen.Const<string?>("rebind.example")))
            from body in FuzzInputs.Body
            select new Case(method, Path(route.Pattern, values) + query, auth, type, origin, host, body,
                longLived.Contains(route.Pattern) && (route.Pattern.Contains("watch", StringComparison.Ordinal) || route.Pattern.Contains("stream", StringComparison.Ordinal) || query.Contains("index=", StringComparison.Ordinal)));

        // UTF-8 header bytes go out as they are, so the server meets non-ASCII headers too (Kestrel answers 400).
        using var handler = new SocketsHttpHandler { UseProxy = false, RequestHeaderEncodingSelector = (_, _) => Encoding.UTF8 };
        using var http = new HttpClient(handler) { BaseAddress = server.Http.BaseAddress };
        var ran = 0;
        var byStatus = new Dictionary<int, int>();
        var previousWrote = false;
        await gen.SampleAsync(async c =>
        {
            if (previousWrote)
            {
                await QuiesceAsync(server);
            }

            var before = await server.Store.GetRevisionAsync(CancellationToken.None);
            var status = await SendAsync(http, c);
            Interlocked.Increment(ref ran);
            lock (byStatus)
            {
                byStatus[status] = byStatus.GetValueOrDefault(status) + 1;
            }

            Assert.True(status < 500, $"{status} for {c}");
            if (status >= 400)
            {
                Assert.True(before == await server.Store.GetRevisionAsync(CancellationToken.None), $"refused ({status}) but the store changed: {c}");
            }

            previousWrote = status < 400;
        }, iter: Cases, threads: 1, print: c => c.ToString());

        Assert.Equal(Cases, ran);
        Assert.Equal(HttpStatusCode.OK, (await server.Http.GetAsync("/healthz")).StatusCode);
        // Most cases must get past the gate, or the fuzzing says nothing about the handlers.
        Assert.True(byStatus.Where(s => s.Key is not (401 or 403 or 415 or 421)).Sum(s => s.Value) > Cases / 3,
            string.Join(", ", byStatus.OrderBy(s => s.Key).Select(s => $"{s.Key}: {s.Value}")));
    }

    private static string Path(string pattern, string[] values)
    {
        var i = 0;
        var filled = RouteAccessTests.Fill(pattern);
        foreach (var name in new[] { "web", "w1", "g1", "m1" })
        {
            var value = values[i++];
            if (value.Length > 0)
            {
                var at = filled.IndexOf("/" + name, StringComparison.Ordinal);
                filled = at < 0 ? filled : string.Concat(filled.AsSpan(0, at + 1), value, filled.AsSpan(at + 1 + name.Length));
            }
        }

        return filled;
    }

    /// <summary>Sends one case and returns its status; a long-lived answer is judged on its headers, anything else must complete.</summary>
    private static async Task<int> SendAsync(HttpClient http, Case c)
    {
        using var request = new HttpRequestMessage(new HttpMethod(c.Method), c.Path);
        if (c.Authorization is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", c.Authorization);
        }

        if (c.Origin is not null)
        {
            request.Headers.TryAddWithoutValidation("Origin", c.Origin);
        }

        if (c.Host is not null)
        {
            request.Headers.Host = c.Host;
        }

        if (c.Body is not null && c.Method is not ("HEAD" or "OPTIONS"))
        {
            request.Content = new ByteArrayContent(Encoding.UTF8.GetBytes(c.Body));
            if (c.ContentType is not null)
            {
                request.Content.Headers.TryAddWithoutValidation("Content-Type", c.ContentType);
            }
        }

        // A blocking query waits on the server's (frozen) clock: give it a moment, then hang up; that is not a failure.
        using var timeout = new CancellationTokenSource(c.LongLived ? TimeSpan.FromSeconds(1) : TimeSpan.FromSeconds(20));
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            if (response.Content.Headers.ContentType?.MediaType != "text/event-stream")
            {
                await response.Content.ReadAsByteArrayAsync(timeout.Token);
            }

            return (int)response.StatusCode;
        }
        catch (OperationCanceledException) when (c.LongLived)
        {
            return 0;
        }
    }

    /// <summary>Waits (bounded) until background work a successful write set off (the group controller, audit) has settled.</summary>
    private static async Task QuiesceAsync(ServerFixture server)
    {
        var last = await server.Store.GetRevisionAsync(CancellationToken.None);
        for (var i = 0; i < 40; i++)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(25), TimeProvider.System);
            var now = await server.Store.GetRevisionAsync(CancellationToken.None);
            if (now == last && i > 0)
            {
                return;
            }

            last = now;
        }
    }
}
