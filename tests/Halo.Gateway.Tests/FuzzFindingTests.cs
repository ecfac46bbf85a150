using Halo.Gateway.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Halo.Gateway.Tests;

/// <summary>What the gateway fuzz (Halo.IntegrationTests GatewayFuzzTests) found, kept as small deterministic cases.</summary>
public class FuzzFindingTests
{
    private static string Yaml(InProcessBackend backend) => $$"""
        routes: [{cluster: c}]
        clusters:
          c:
            destinations: [{url: 'http://127.0.0.1:{{backend.Port}}', name: {{backend.Name}}}]
            health: { passive: { consecutiveFailures: 2 } }
        """;

    [Fact]
    public async Task Connect_OriginFormOverHttp10_Answered405_DestinationNotBlamed()
    {
        await using var a = await InProcessBackend.StartAsync("a");
        await using var gw = await InProcessGateway.StartAsync(Yaml(a));

        // Kestrel takes CONNECT with an origin-form target over HTTP/1.0; YARP cannot build such a request. It was answered 502
        // and counted as the destination's failure, so a few of them ejected a healthy backend.
        for (var i = 0; i < 5; i++)
        {
            await using var c = await RawHttpConnection.OpenAsync(gw.EndPoint);
            await c.SendAsync("CONNECT /slow?ms=5 HTTP/1.0\r\nHost: x\r\n\r\n");
            Assert.Equal(405, (await c.ReadResponseAsync()).Status);
        }

        var destination = gw.Services.GetRequiredService<RoutingTableHolder>().Current!.Routes[0].Cluster.AllMembers.Single();
        Assert.True(destination.IsHealthy);
        Assert.Equal(0, destination.TakeCounts().Failures);
        Assert.Equal("a", await gw.GetBackendAsync());
    }

    [Fact]
    public async Task NonAsciiHeaderValue_ForwardedAsItsUtf8Bytes_DestinationNotBlamed()
    {
        await using var a = await InProcessBackend.StartAsync("a");
        await using var gw = await InProcessGateway.StartAsync(Yaml(a));

        // The fast path hands a non-ASCII header to Kestrel and YARP; HttpClient refused to write it (502, counted as a failure).
        for (var i = 0; i < 5; i++)
        {
            await using var c = await RawHttpConnection.OpenAsync(gw.EndPoint);
            await c.SendAsync(System.Text.Encoding.UTF8.GetBytes("GET /header/X-User HTTP/1.1\r\nHost: x\r\nX-User: ünïcödé\r\n\r\n"));
            var response = await c.ReadResponseAsync();
            Assert.Equal(200, response.Status);
            Assert.Equal("ünïcödé", response.Text);
        }

        var destination = gw.Services.GetRequiredService<RoutingTableHolder>().Current!.Routes[0].Cluster.AllMembers.Single();
        Assert.True(destination.IsHealthy);
        Assert.Equal(0, destination.TakeCounts().Failures);
    }

    [Theory]
    [InlineData("HTTP/1.1", 0)]
    [InlineData("HTTP/1.0", 0)]
    [InlineData("HTTP/1.1", 9_000)]
    public async Task UnparseableHost_BackendGetsTheDestinationsHostOnce(string version, int hostLength)
    {
        await using var a = await InProcessBackend.StartAsync("a");
        await using var gw = await InProcessGateway.StartAsync(Yaml(a));

        // YARP copied a Host HttpClient cannot parse as a second Host line; the backend answered 400 (and a large body became a 502).
        await using var c = await RawHttpConnection.OpenAsync(gw.EndPoint);
        await c.SendAsync($"GET /header/Host {version}\r\nHost: {new string('h', hostLength)}\r\n\r\n");
        var response = await c.ReadResponseAsync();
        Assert.Equal(200, response.Status);
        Assert.Equal($"127.0.0.1:{a.Port}", response.Text);
    }

    [Fact]
    public async Task UnreadableChunkedBody_OfARetryableRequest_Answered400()
    {
        await using var a = await InProcessBackend.StartAsync("a");
        await using var gw = await InProcessGateway.StartAsync(Yaml(a));

        // A PUT's body is buffered for a retry; a chunk size that overflows made Kestrel throw an IOException there, unhandled: 500.
        await using var c = await RawHttpConnection.OpenAsync(gw.EndPoint);
        await c.SendAsync("PUT /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n123456789012345\r\n");
        Assert.Equal(400, (await c.ReadResponseAsync()).Status);
        Assert.Equal("a", await gw.GetBackendAsync());
    }
}
