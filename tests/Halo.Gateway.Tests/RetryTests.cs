using System.Net;

namespace Halo.Gateway.Tests;

/// <summary>Retries on both forwarding paths: the HTTP/1.1 fast path and Kestrel + YARP.</summary>
public class RetryTests
{
    private static string Yaml(params InProcessBackend[] backends) => $$"""
        routes: [{cluster: c}]
        clusters:
          c:
            policy: round-robin
            destinations: [{{string.Join(", ", backends.Select(b => $"{{url: 'http://127.0.0.1:{b.Port}', name: {b.Name}}}"))}}]
            retry: { attempts: 3, perTryTimeout: 1s, minRetriesPerSecond: 100 }
            health: { passive: { consecutiveFailures: 100 } }
        """;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Get_DestinationRefusesConnections_RetriedElsewhere(bool fastPath)
    {
        await using var a = await InProcessBackend.StartAsync("a");
        var dead = await InProcessBackend.StartAsync("dead");
        await dead.DisposeAsync();
        await using var gw = await InProcessGateway.StartAsync(Yaml(a, dead), fastPath: fastPath);

        for (var i = 0; i < 10; i++)
        {
            Assert.Equal("a", await gw.GetBackendAsync());
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Get_DestinationTooSlow_PerTryTimeoutThenRetried(bool fastPath)
    {
        await using var a = await InProcessBackend.StartAsync("a");
        await using var b = await InProcessBackend.StartAsync("b");
        await using var gw = await InProcessGateway.StartAsync(Yaml(a, b), fastPath: fastPath);

        var sw = System.Diagnostics.Stopwatch.StartNew();
        using var response = await gw.Client.GetAsync("/slow?ms=6000");
        sw.Stop();

        // Every try times out; the caller waits tries × per-try timeout (2 × 1 s), not the backend's 6 s.
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.InRange(sw.ElapsedMilliseconds, 1900, 4500);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Post_Status503_NotRetried(bool fastPath)
    {
        await using var a = await InProcessBackend.StartAsync("a");
        await using var b = await InProcessBackend.StartAsync("b");
        await using var gw = await InProcessGateway.StartAsync(Yaml(a, b), fastPath: fastPath);

        using var response = await gw.Client.PostAsync("/status/503", new StringContent("x"));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(1, a.Hits + b.Hits);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Post_WithIdempotencyKey_RetriedOn503(bool fastPath)
    {
        await using var a = await InProcessBackend.StartAsync("a");
        await using var b = await InProcessBackend.StartAsync("b");
        await using var gw = await InProcessGateway.StartAsync(Yaml(a, b), fastPath: fastPath);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/status/503") { Content = new StringContent("x") };
        request.Headers.Add("Idempotency-Key", "k1");

        using var response = await gw.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(2, a.Hits + b.Hits);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Get_Status503OnAll_TriesEachOnceThenPassesThrough(bool fastPath)
    {
        await using var a = await InProcessBackend.StartAsync("a");
        await using var b = await InProcessBackend.StartAsync("b");
        await using var gw = await InProcessGateway.StartAsync(Yaml(a, b), fastPath: fastPath);

        using var response = await gw.Client.GetAsync("/status/503");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(1, a.Hits);
        Assert.Equal(1, b.Hits);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Get_UnknownRoute_404(bool fastPath)
    {
        await using var a = await InProcessBackend.StartAsync("a");
        await using var gw = await InProcessGateway.StartAsync($"routes: [{{path: /api, cluster: c}}]\nclusters: {{c: {{destinations: [{{url: 'http://127.0.0.1:{a.Port}'}}]}}}}", fastPath: fastPath);

        using var response = await gw.Client.GetAsync("/other");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }
}
