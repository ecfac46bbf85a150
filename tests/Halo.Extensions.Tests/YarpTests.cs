using Halo.Core;
using Halo.Extensions.ServiceDiscovery;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Configuration;

namespace Halo.Client.Tests;

/// <summary>
/// A real YARP reverse proxy whose cluster destination is <c>http://web</c>, resolved by Microsoft.Extensions.ServiceDiscovery.Yarp
/// through Halo's endpoint provider, with a real server and real backends.
/// </summary>
public sealed class YarpTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Destination_HttpWeb_ReachesPassingInstancesOnly_MovesOffKilledWithinDetectionBound()
    {
        await using var servers = await Servers.StartAsync();
        var (_, url) = await servers.AddServerAsync();
        await using var a = await Apps.StartServiceAsync(url, "web", "web-a");
        // web-b heartbeats from the test, so it can die without a word, as a process killed with -9 does.
        var b = await Apps.StartPlainAsync("web-b");
        // web-c is registered, heartbeating and draining: Halo says not to send it traffic.
        await using var c = await Apps.StartPlainAsync("web-c");
        using var halo = new HaloClient(url);
        await halo.RegisterAsync("web", "web-b", new { address = "127.0.0.1", port = Apps.Address(b).Port, ttl = "200ms" });
        await halo.RegisterAsync("web", "web-c", new { address = "127.0.0.1", port = Apps.Address(c).Port, ttl = "200ms" });
        await halo.DrainAsync("web", "web-c", draining: true);
        using var crash = new CancellationTokenSource();
        using var stop = new CancellationTokenSource();
        var heartbeats = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                if (!crash.IsCancellationRequested) await halo.HeartbeatAsync("web", "web-b");
                await halo.HeartbeatAsync("web", "web-c");
                await Task.Delay(100);
            }
        });

        await using var proxy = await StartProxyAsync(url);
        using var http = new HttpClient { BaseAddress = Apps.Address(proxy), Timeout = TimeSpan.FromSeconds(10) };
        var catalog = proxy.Services.GetRequiredService<HaloServiceCatalog>();
        await Apps.UntilAsync(async () => (await Answers(http, 10)).SetEquals(["web-a", "web-b"]), Bound, "the proxy to reach web-a and web-b");
        Assert.DoesNotContain("web-c", await Answers(http, 20));
        var bound = (await halo.ServicesAsync()).Services.Single(s => s.Name == "web").DetectionBound;
        Assert.True(Durations.TryParse(bound, out var detection), bound);

        await crash.CancelAsync();
        await Servers.KillAsync(b);
        var killed = TimeProvider.System.GetTimestamp();
        TimeSpan? lastFailure = null;
        var calls = 0;
        while (TimeProvider.System.GetElapsedTime(killed) < detection + TimeSpan.FromSeconds(2))
        {
            var answer = await Answer(http);
            calls++;
            if (answer != "web-a")
            {
                Assert.Equal("failed", answer); // never web-c
                lastFailure = TimeProvider.System.GetElapsedTime(killed);
            }

            await Task.Delay(20);
        }

        await stop.CancelAsync();
        await heartbeats;
        // YARP has no retries here, so calls that met web-b before the server judged it failed (502); none after the
        // detection bound plus the feed's propagation on a busy machine, and the catalog YARP resolves from no longer has it.
        Assert.True(calls > 20, $"{calls} calls");
        Assert.NotNull(lastFailure);
        Assert.True(lastFailure <= detection + TimeSpan.FromSeconds(1), $"a call failed {lastFailure} after the kill, bound {detection}");
        Assert.DoesNotContain(catalog.Routable("web"), i => i.Id == "web-b");
        Assert.Equal(["web-a"], await Answers(http, 10));
    }

    /// <summary>A YARP reverse proxy on a free port: every path goes to cluster "web", whose one destination is http://web.</summary>
    private static async Task<WebApplication> StartProxyAsync(Uri server)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
        builder.Services.AddHaloClient(o => o.Server = server.ToString());
        builder.Services.AddHaloServiceDiscovery();
        builder.Services.AddReverseProxy()
            .LoadFromMemory(
                [new RouteConfig { RouteId = "all", ClusterId = "web", Match = new RouteMatch { Path = "{**rest}" } }],
                [new ClusterConfig { ClusterId = "web", Destinations = new Dictionary<string, DestinationConfig> { ["web"] = new() { Address = "http://web" } } }])
            .AddServiceDiscoveryDestinationResolver();
        var app = builder.Build();
        app.MapReverseProxy();
        await app.StartAsync();
        return app;
    }

    private static async Task<string> Answer(HttpClient http)
    {
        try
        {
            using var response = await http.GetAsync("/");
            return response.IsSuccessStatusCode ? await response.Content.ReadAsStringAsync() : "failed";
        }
        catch (HttpRequestException)
        {
            return "failed";
        }
    }

    private static async Task<HashSet<string>> Answers(HttpClient http, int calls)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < calls; i++)
        {
            seen.Add(await Answer(http));
        }

        return seen;
    }
}
