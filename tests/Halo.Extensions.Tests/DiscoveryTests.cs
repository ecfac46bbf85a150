using Halo.Core;
using Halo.Extensions.ServiceDiscovery;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Halo.Client.Tests;

/// <summary>Discovery with a real server when an instance crashes: it leaves the caller's set within the detection bound.</summary>
public sealed class DiscoveryTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task KilledInstance_LeftWithinDetectionBound_NoFailedCallWithRetries()
    {
        await using var servers = await Servers.StartAsync();
        var (_, url) = await servers.AddServerAsync();
        await using var a = await Apps.StartServiceAsync(url, "web", "web-a");
        // web-b heartbeats from the test, so it can die without a word, as a process killed with -9 does.
        var b = await StartPlainAsync("web-b");
        using var halo = new HaloClient(url);
        await halo.RegisterAsync("web", "web-b", new { address = "127.0.0.1", port = Apps.Address(b).Port, ttl = "200ms" });
        using var crash = new CancellationTokenSource();
        var heartbeats = Task.Run(async () =>
        {
            while (!crash.IsCancellationRequested)
            {
                await halo.HeartbeatAsync("web", "web-b");
                await Task.Delay(200);
            }
        });
        var (callerApp, caller) = await Apps.StartCallerAsync(url, "web", retries: 2);
        await using var _ = callerApp;
        var catalog = callerApp.Services.GetRequiredService<HaloServiceCatalog>();
        await Apps.UntilAsync(() => Task.FromResult(catalog.Routable("web").Count == 2), Bound, "the caller to see both");
        var bound = (await halo.ServicesAsync()).Services.Single(s => s.Name == "web").DetectionBound;
        Assert.True(Durations.TryParse(bound, out var detection), bound);

        await crash.CancelAsync();
        await heartbeats;
        await Servers.KillAsync(b);
        var killed = TimeProvider.System.GetTimestamp();
        var failures = 0;
        var calls = 0;
        TimeSpan? left = null;
        while (TimeProvider.System.GetElapsedTime(killed) < detection + TimeSpan.FromSeconds(2))
        {
            try
            {
                using var response = await caller.GetAsync("/");
                calls++;
                if (!response.IsSuccessStatusCode) failures++;
            }
            catch (Exception ex) when (ex is HttpRequestException or InvalidOperationException)
            {
                failures++;
            }

            if (left is null && catalog.Routable("web").All(i => i.Id != "web-b"))
            {
                left = TimeProvider.System.GetElapsedTime(killed);
            }

            await Task.Delay(20);
        }

        Assert.Equal(0, failures);
        Assert.True(calls > 20, $"{calls} calls");
        Assert.NotNull(left);
        // The detector's bound, plus the feed's propagation on a busy machine.
        Assert.True(left <= detection + TimeSpan.FromSeconds(1), $"left after {left}, bound {detection}");
    }

    [Fact]
    public async Task CallerReports_InstanceFailingCalls_JudgedCriticalByServer()
    {
        await using var servers = await Servers.StartAsync();
        var (_, url) = await servers.AddServerAsync();
        await using var a = await Apps.StartServiceAsync(url, "web", "web-a");
        await using var b = await StartPlainAsync("web-b", status: 500);
        using var halo = new HaloClient(url);
        await halo.RegisterAsync("web", "web-b", new { address = "127.0.0.1", port = Apps.Address(b).Port, ttl = "1s" });
        using var stop = new CancellationTokenSource();
        var heartbeats = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await halo.HeartbeatAsync("web", "web-b");
                await Task.Delay(300);
            }
        });
        var (callerApp, caller) = await Apps.StartCallerAsync(url, "web", reports: true);
        await using var _ = callerApp;
        var catalog = callerApp.Services.GetRequiredService<HaloServiceCatalog>();
        await Apps.UntilAsync(() => Task.FromResult(catalog.Routable("web").Count == 2), Bound, "the caller to see both");

        for (var i = 0; i < 60; i++)
        {
            using var response = await caller.GetAsync("/");
        }

        await callerApp.Services.GetRequiredService<HaloCallerReports>().FlushAsync(CancellationToken.None);

        // Heartbeating fine, failing its callers: the server judges it by what callers saw.
        await Apps.UntilAsync(async () => (await halo.InstancesAsync("web")).Instances.Single(i => i.Id == "web-b").Health == Core.Detection.HealthStatus.Critical,
            Bound, "web-b critical from caller reports");
        Assert.NotEqual(Core.Detection.HealthStatus.Critical, (await halo.InstancesAsync("web")).Instances.Single(i => i.Id == "web-a").Health);
        await stop.CancelAsync();
        await heartbeats;
    }

    private static async Task<WebApplication> StartPlainAsync(string name, int status = 200)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
        var app = builder.Build();
        app.MapGet("/", () => Results.Text(name, statusCode: status));
        await app.StartAsync();
        return app;
    }
}
