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
        // web-b heartbeats from the test, so its port and its heartbeats can stop separately.
        var b = await Apps.StartPlainAsync("web-b");
        // web-c is registered, heartbeating and draining: Halo says not to send it traffic.
        await using var c = await Apps.StartPlainAsync("web-c");
        using var halo = new HaloClient(url);
        await halo.RegisterAsync("web", "web-b", new { address = "127.0.0.1", port = Apps.Address(b).Port, ttl = "200ms" });
        await halo.RegisterAsync("web", "web-c", new { address = "127.0.0.1", port = Apps.Address(c).Port, ttl = "200ms" });
        await halo.DrainAsync("web", "web-c", draining: true);
        using var crash = new CancellationTokenSource();
        using var stop = new CancellationTokenSource();
        long lastBeat = 0; // when web-b's last heartbeat was sent: the detector's clock starts no earlier
        var heartbeatsB = Beat("web-b", crash.Token, () => lastBeat = TimeProvider.System.GetTimestamp());
        var heartbeatsC = Beat("web-c", stop.Token, () => { });

        await using var proxy = await StartProxyAsync(url);
        using var http = new HttpClient { BaseAddress = Apps.Address(proxy), Timeout = TimeSpan.FromSeconds(10) };
        var catalog = proxy.Services.GetRequiredService<HaloServiceCatalog>();
        await Apps.UntilAsync(async () => (await Answers(http, 10)).SetEquals(["web-a", "web-b"]), Bound, "the proxy to reach web-a and web-b");
        Assert.DoesNotContain("web-c", await Answers(http, 20));
        var bound = (await halo.ServicesAsync()).Services.Single(s => s.Name == "web").DetectionBound;
        Assert.True(Durations.TryParse(bound, out var detection), bound);

        // The port closes first and web-b's heartbeats stop once a call has met it: a kill between heartbeats leaves the proxy
        // only 1.5 TTL from the last one (300 ms, then web-b is suspect and out of the set while web-a passes), often shorter
        // than the kill and the next call on a starved machine, so a failed call after a simultaneous stop was luck.
        await Servers.KillAsync(b);
        long? lastFailure = null;
        var calls = 0;
        var closed = TimeProvider.System.GetTimestamp();
        while (lastFailure is null)
        {
            if (TimeProvider.System.GetElapsedTime(closed) > Bound)
            {
                throw new TimeoutException($"no call met web-b's closed port within {Bound} ({calls} calls)");
            }

            await CallAsync();
        }

        var callsBefore = calls;
        await crash.CancelAsync();
        await heartbeatsB;
        while (TimeProvider.System.GetElapsedTime(lastBeat) < detection + TimeSpan.FromSeconds(2))
        {
            await CallAsync();
        }

        await stop.CancelAsync();
        await heartbeatsC;
        // YARP has no retries here, so calls that met web-b before the server judged it failed (502); none after the
        // detection bound plus the feed's propagation on a busy machine, and the catalog YARP resolves from no longer has it.
        Assert.True(calls - callsBefore > 20, $"{calls - callsBefore} calls after the last heartbeat");
        var failedAfter = TimeProvider.System.GetElapsedTime(lastBeat, lastFailure.Value);
        Assert.True(failedAfter <= detection + TimeSpan.FromSeconds(1), $"a call failed {failedAfter} after the last heartbeat, bound {detection}");
        Assert.DoesNotContain(catalog.Routable("web"), i => i.Id == "web-b");
        Assert.Equal(["web-a"], await Answers(http, 10));

        async Task CallAsync()
        {
            var answer = await Answer(http);
            calls++;
            if (answer != "web-a")
            {
                Assert.Equal("failed", answer); // never web-c
                lastFailure = TimeProvider.System.GetTimestamp();
            }

            await Task.Delay(20);
        }

        // Every half TTL, so an ordinary delay does not make the instance suspect.
        Task Beat(string id, CancellationToken until, Action sending) => Task.Run(async () =>
        {
            while (!until.IsCancellationRequested)
            {
                sending();
                await halo.HeartbeatAsync("web", id);
                await Task.Delay(100);
            }
        });
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
