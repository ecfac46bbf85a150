using Halo.Core.Detection;
using Halo.Core.Registry;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Halo.Client.Tests;

/// <summary>Self-registration with a real server and real ASP.NET Core applications.</summary>
public sealed class RegistrationTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task App_Started_RegistersWithBoundAddress()
    {
        await using var servers = await Servers.StartAsync();
        var (_, url) = await servers.AddServerAsync();
        await using var app = await Apps.StartServiceAsync(url, "web", "web-1");
        using var halo = new HaloClient(url);

        await Apps.UntilAsync(async () => (await Instances(halo, "web")).Count == 1, Bound, "web-1 registered");

        var instance = Assert.Single(await Instances(halo, "web"));
        var bound = Apps.Address(app);
        Assert.Equal(("web-1", "127.0.0.1", bound.Port), (instance.Id, instance.Address, instance.Port));
        Assert.Equal(TimeSpan.FromMilliseconds(300), instance.Ttl);
        Assert.Equal("http", instance.Metadata["scheme"]);
    }

    [Fact]
    public async Task FailingHealthCheck_LeavesRotationAndComesBack()
    {
        await using var servers = await Servers.StartAsync();
        var (_, url) = await servers.AddServerAsync();
        var healthy = true;
        await using var a = await Apps.StartServiceAsync(url, "web", "web-a", () => Volatile.Read(ref healthy));
        await using var b = await Apps.StartServiceAsync(url, "web", "web-b");
        var (callerApp, caller) = await Apps.StartCallerAsync(url, "web");
        await using var _ = callerApp;
        using var halo = new HaloClient(url);
        await Apps.UntilAsync(async () => (await Instances(halo, "web")).Count == 2, Bound, "both registered");
        await Apps.UntilAsync(async () => await Reached(caller, 10) is { Count: 2 } both && !both.Contains("failed"), Bound, "the caller to reach both");

        Volatile.Write(ref healthy, false);
        await Apps.UntilAsync(async () => (await Instances(halo, "web")).Single(i => i.Id == "web-a").Draining, Bound, "web-a draining");
        await Apps.UntilAsync(async () => await Reached(caller, 10) is { Count: 1 } only && only.Contains("web-b"), Bound, "the caller to use web-b only");
        // Still heartbeating: draining, never declared dead (late heartbeats on a starved machine may make it suspect).
        Assert.NotEqual(HealthStatus.Critical, (await Instances(halo, "web")).Single(i => i.Id == "web-a").Health);

        Volatile.Write(ref healthy, true);
        await Apps.UntilAsync(async () => !(await Instances(halo, "web")).Single(i => i.Id == "web-a").Draining, Bound, "web-a back");
        await Apps.UntilAsync(async () => await Reached(caller, 10) is { Count: 2 } both && !both.Contains("failed"), Bound, "the caller to reach both again");
    }

    [Fact]
    public async Task GracefulStop_DrainsThenDeregisters_NoFailedCallerRequest()
    {
        await using var servers = await Servers.StartAsync();
        var (_, url) = await servers.AddServerAsync();
        var a = await Apps.StartServiceAsync(url, "web", "web-a");
        await using var b = await Apps.StartServiceAsync(url, "web", "web-b");
        var (callerApp, caller) = await Apps.StartCallerAsync(url, "web");
        await using var _ = callerApp;
        using var halo = new HaloClient(url);
        await Apps.UntilAsync(async () => await Reached(caller, 10) is { Count: 2 } both && !both.Contains("failed"), Bound, "the caller to reach both");

        using var stopLoad = new CancellationTokenSource();
        var failures = 0;
        var served = 0;
        var load = Task.Run(async () =>
        {
            while (!stopLoad.IsCancellationRequested)
            {
                try
                {
                    using var response = await caller.GetAsync("/slow");
                    if (response.IsSuccessStatusCode) Interlocked.Increment(ref served); else Interlocked.Increment(ref failures);
                }
                catch (Exception ex) when (ex is HttpRequestException or InvalidOperationException)
                {
                    Interlocked.Increment(ref failures);
                }
            }
        });

        await Task.Delay(500);
        await a.StopAsync();
        await a.DisposeAsync();
        await Task.Delay(500);
        await stopLoad.CancelAsync();
        await load;

        Assert.Equal(0, failures);
        Assert.True(served > 3, $"served {served}");
        Assert.Equal(["web-b"], (await Instances(halo, "web")).Select(i => i.Id));
        // Drained first, deregistered after: the order the server recorded.
        var stops = (await halo.EventsAsync(service: "web")).Events
            .Where(e => e.Instance == "web-a" && e.Type is EventTypes.Draining or EventTypes.Deregistered).Select(e => e.Type);
        Assert.Equal([EventTypes.Draining, EventTypes.Deregistered], stops);
    }

    [Fact]
    public async Task ServerAway5s_AppStaysRegisteredAndCallsSucceed()
    {
        await using var servers = await Servers.StartAsync();
        var (server, url) = await servers.AddServerAsync();
        await using var a = await Apps.StartServiceAsync(url, "web", "web-a");
        var (callerApp, caller) = await Apps.StartCallerAsync(url, "web");
        await using var _ = callerApp;
        await Apps.UntilAsync(async () => await Reached(caller, 3) is { Count: 1 } one && one.Contains("web-a"), Bound, "the caller to reach web-a");
        using var stopLoad = new CancellationTokenSource();
        var (calls, failed) = (0, 0);
        // One caller, calling every 50 ms from before the kill until the app is passing on the restarted server.
        var load = Task.Run(async () =>
        {
            while (!stopLoad.IsCancellationRequested)
            {
                var answer = await Reached(caller, 1);
                Interlocked.Increment(ref calls);
                if (!answer.Contains("web-a")) Interlocked.Increment(ref failed);
                await Task.Delay(50);
            }
        });

        await Servers.KillAsync(server);
        await Task.Delay(TimeSpan.FromSeconds(5));
        // The same port again, as a restarted server would have.
        var (_, again) = await servers.AddServerAtAsync(url);
        using var halo = new HaloClient(again);
        await Apps.UntilAsync(async () => (await Instances(halo, "web")).Any(i => i.Id == "web-a" && i.Health == HealthStatus.Passing), Bound, "web-a passing after the restart");
        await Task.Delay(500);
        await stopLoad.CancelAsync();
        await load;

        Assert.Equal(0, failed);
        Assert.True(calls > 40, $"{calls} calls");
    }

    [Fact]
    public async Task ServerRestartsWithEmptyStore_AppRegistersAgain()
    {
        var first = await Servers.StartAsync();
        var (server, url) = await first.AddServerAsync();
        await using var a = await Apps.StartServiceAsync(url, "web", "web-a");
        using (var before = new HaloClient(url))
        {
            await Apps.UntilAsync(async () => (await Instances(before, "web")).Count == 1, Bound, "web-a registered");
        }

        await Servers.KillAsync(server);
        await first.DisposeAsync(); // the store and its directory are gone: nothing of web-a is left on the server side
        await using var fresh = await Servers.StartAsync();
        var (_, again) = await fresh.AddServerAtAsync(url);
        using var halo = new HaloClient(again);

        await Apps.UntilAsync(async () => (await Instances(halo, "web")).Any(i => i.Id == "web-a" && i.Port == Apps.Address(a).Port), Bound,
            "web-a registered again on the empty store");
    }

    [Theory]
    [InlineData(null, null, "Halo:Service: required")]
    [InlineData("not a name!", null, "Halo:Service: 'not a name!' is invalid")]
    [InlineData("web", "ftp://x", "Halo:Server: 'ftp://x' is not an http(s) URL")]
    [InlineData("web", "", "Halo:Server: no server address given")]
    public async Task BadOptions_FailAtStartNamingOption(string? service, string? server, string expected)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseSetting("urls", "http://127.0.0.1:0");
        builder.Services.AddHaloClient(o => o.Server = server ?? "http://127.0.0.1:1");
        builder.Services.AddHaloRegistration(o => o.Service = service);
        await using var app = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync());

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadDuration_FailsAtStartNamingOption()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseSetting("urls", "http://127.0.0.1:0");
        builder.Services.AddHaloClient(o => o.Server = "http://127.0.0.1:1");
        builder.Services.AddHaloRegistration(o =>
        {
            o.Service = "web";
            o.HeartbeatInterval = TimeSpan.FromMilliseconds(1);
        });
        await using var app = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync());

        Assert.Contains("Halo:HeartbeatInterval: 1ms is out of range", error.Message, StringComparison.Ordinal);
    }

    private static async Task<IReadOnlyList<Halo.Core.Registry.InstanceRecord>> Instances(HaloClient halo, string service)
    {
        try
        {
            return (await halo.InstancesAsync(service)).Instances;
        }
        catch (HaloApiException ex) when (ex.Status == System.Net.HttpStatusCode.NotFound)
        {
            return [];
        }
    }

    private static async Task<HashSet<string>> Reached(HttpClient caller, int calls)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < calls; i++)
        {
            try
            {
                seen.Add(await caller.GetStringAsync("/"));
            }
            catch (Exception ex) when (ex is HttpRequestException or InvalidOperationException)
            {
                seen.Add("failed"); // InvalidOperationException: discovery found no endpoint
            }
        }

        return seen;
    }
}
