using System.Text;
using Halo.Gateway.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;

namespace Halo.Gateway.Tests;

/// <summary>The HTTP/1.1 fast path over raw sockets: framing, pipelining, reuse, hand-off to Kestrel mid-connection.</summary>
public class FastPathTests
{
    private static string Yaml(params InProcessBackend[] backends) => $$"""
        routes: [{cluster: c}]
        clusters:
          c:
            policy: round-robin
            destinations: [{{string.Join(", ", backends.Select(b => $"{{url: 'http://127.0.0.1:{b.Port}', name: {b.Name}}}"))}}]
            retry: { attempts: 3, perTryTimeout: 2s, minRetriesPerSecond: 100 }
            health: { passive: { consecutiveFailures: 100 } }
        """;

    [Fact]
    public async Task Pipelined_TwoRequestsInOneWrite_BothAnsweredInOrder()
    {
        await using var a = await InProcessBackend.StartAsync("a");
        await using var gw = await InProcessGateway.StartAsync(Yaml(a));
        await using var c = await RawHttpConnection.OpenAsync(gw.EndPoint);

        await c.SendAsync("GET /bytes?n=10 HTTP/1.1\r\nHost: x\r\n\r\nGET /chunked?n=20000 HTTP/1.1\r\nHost: x\r\n\r\n");

        var first = await c.ReadResponseAsync();
        var second = await c.ReadResponseAsync();
        Assert.Equal(InProcessBackend.Pattern(10), first.Body);
        Assert.Equal(InProcessBackend.Pattern(20000), second.Body);
        Assert.Equal("chunked", second.Header("Transfer-Encoding"));
    }

    [Theory]
    [InlineData("/bytes?n=1048576")]
    [InlineData("/chunked?n=1048576")]
    public async Task LargeResponse_EveryByteArrives_ConnectionReused(string path)
    {
        await using var a = await InProcessBackend.StartAsync("a");
        await using var gw = await InProcessGateway.StartAsync(Yaml(a));
        await using var c = await RawHttpConnection.OpenAsync(gw.EndPoint);

        for (var i = 0; i < 3; i++)
        {
            await c.SendAsync($"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
            var r = await c.ReadResponseAsync();
            Assert.Equal(200, r.Status);
            Assert.Equal(InProcessBackend.Pattern(1048576), r.Body);
        }

        Assert.Equal(1, a.Connections);
    }

    [Fact]
    public async Task KeepAlive_ManyRequests_OneBackendConnection()
    {
        await using var a = await InProcessBackend.StartAsync("a");
        await using var gw = await InProcessGateway.StartAsync(Yaml(a));
        await using var c = await RawHttpConnection.OpenAsync(gw.EndPoint);

        for (var i = 0; i < 50; i++)
        {
            await c.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
            Assert.Equal("a", (await c.ReadResponseAsync()).Text);
        }

        Assert.Equal(1, a.Connections);
    }

    [Theory]
    [InlineData(5)]
    [InlineData(200_000)] // larger than the replay limit: streamed, forwarded once
    public async Task Post_Body_EchoedExactly(int size)
    {
        await using var a = await InProcessBackend.StartAsync("a");
        await using var gw = await InProcessGateway.StartAsync(Yaml(a));
        await using var c = await RawHttpConnection.OpenAsync(gw.EndPoint);
        var body = InProcessBackend.Pattern(size);

        await c.SendAsync(Encoding.ASCII.GetBytes($"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n").Concat(body).ToArray());
        var r = await c.ReadResponseAsync();
        await c.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        var next = await c.ReadResponseAsync();

        Assert.Equal(200, r.Status);
        Assert.Equal(body, r.Body);
        Assert.Equal("a", next.Text);
    }

    [Fact]
    public async Task Head_LengthWithoutBody_NextRequestStillParsed()
    {
        await using var a = await InProcessBackend.StartAsync("a");
        await using var gw = await InProcessGateway.StartAsync(Yaml(a));
        await using var c = await RawHttpConnection.OpenAsync(gw.EndPoint);

        await c.SendAsync("HEAD /bytes?n=100 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
        var head = await c.ReadResponseAsync(headRequest: true);
        var get = await c.ReadResponseAsync();

        Assert.Equal(200, head.Status);
        Assert.Equal("100", head.Header("Content-Length"));
        Assert.Equal("a", get.Text);
    }

    [Fact]
    public async Task HopByHopHeaders_NotForwarded_OthersAre()
    {
        await using var a = await InProcessBackend.StartAsync("a");
        await using var gw = await InProcessGateway.StartAsync(Yaml(a));
        await using var c = await RawHttpConnection.OpenAsync(gw.EndPoint);

        await c.SendAsync("GET /headers HTTP/1.1\r\nHost: x\r\nKeep-Alive: 5\r\nProxy-Authorization: secret\r\nTE: trailers\r\nX-Custom: 1\r\n\r\n");
        var r = await c.ReadResponseAsync();

        // Plus the gateway's own account of the connection (ForwardedHeaders), never the client's.
        Assert.Equal("Host,X-Custom,X-Forwarded-For,X-Forwarded-Host,X-Forwarded-Proto", r.Text);
        Assert.Null(r.Header("Connection"));
    }

    [Fact]
    public async Task ChunkedRequestBody_MidConnection_HandedToYarpAndServed()
    {
        await using var a = await InProcessBackend.StartAsync("a");
        await using var gw = await InProcessGateway.StartAsync(Yaml(a));
        await using var c = await RawHttpConnection.OpenAsync(gw.EndPoint);

        await c.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        var fast = await c.ReadResponseAsync();
        await c.SendAsync("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
        var chunked = await c.ReadResponseAsync();
        await c.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        var after = await c.ReadResponseAsync();

        Assert.Equal("a", fast.Text);
        Assert.Equal("hello", chunked.Text);
        Assert.Equal("a", after.Text);
    }

    [Fact]
    public async Task MetricsPath_OnAProxiedConnection_ServedByTheGateway()
    {
        await using var a = await InProcessBackend.StartAsync("a");
        await using var gw = await InProcessGateway.StartAsync(Yaml(a));
        await using var c = await RawHttpConnection.OpenAsync(gw.EndPoint);

        await c.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        await c.ReadResponseAsync();
        await c.SendAsync("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        var metrics = await c.ReadResponseAsync();

        Assert.Equal(200, metrics.Status);
        Assert.Contains("halo_gateway_requests", metrics.Text, StringComparison.Ordinal);
        Assert.Equal(1, a.Hits);
    }

    [Fact]
    public async Task ConnectionClose_AnsweredWithCloseThenClosed()
    {
        await using var a = await InProcessBackend.StartAsync("a");
        await using var gw = await InProcessGateway.StartAsync(Yaml(a));
        await using var c = await RawHttpConnection.OpenAsync(gw.EndPoint);

        await c.SendAsync("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        var r = await c.ReadResponseAsync();

        Assert.Equal("close", r.Header("Connection"));
        Assert.True(await c.ClosedByServerAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task StalePooledConnection_ClosedByBackend_ReplacedWithoutFailure()
    {
        // The backend closes idle connections after 1 s; the gateway's pooled one is then dead.
        await using var a = await InProcessBackend.StartAsync("a", keepAlive: TimeSpan.FromSeconds(1));
        await using var gw = await InProcessGateway.StartAsync(Yaml(a));
        await using var c = await RawHttpConnection.OpenAsync(gw.EndPoint);
        await c.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal("a", (await c.ReadResponseAsync()).Text);
        Assert.Equal(1, a.Connections);
        await Task.Delay(TimeSpan.FromSeconds(3));

        await c.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi");
        var get = await c.ReadResponseAsync();
        var post = await c.ReadResponseAsync();

        Assert.Equal("a", get.Text);
        Assert.Equal("hi", post.Text);
        var destination = gw.Services.GetRequiredService<RoutingTableHolder>().Current!.Routes[0].Cluster.AllMembers.Single();
        Assert.Equal(0, destination.TakeCounts().Failures);
    }

    [Fact]
    public async Task PartialHead_PastRequestHeadersTimeout_ConnectionClosed()
    {
        await using var a = await InProcessBackend.StartAsync("a");
        await using var gw = await InProcessGateway.StartAsync(Yaml(a), configure: s =>
            s.Configure<KestrelServerOptions>(k => k.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(1)));
        await using var c = await RawHttpConnection.OpenAsync(gw.EndPoint);
        await c.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal("a", (await c.ReadResponseAsync()).Text);

        // Slowloris: a head that never completes is cut once the request-headers timeout (plus the 1 s sweep) passes.
        await c.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n");
        Assert.True(await c.ClosedByServerAsync(TimeSpan.FromSeconds(8)));
    }
}
