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
    public async Task KilledInstance_StopsGettingCallsWithinDetectionBound_NoFailedCallWithRetries_FailuresReported()
    {
        await using var servers = await Servers.StartAsync();
        var (_, url) = await servers.AddServerAsync();
        await using var a = await Apps.StartServiceAsync(url, "web", "web-a");
        // web-b heartbeats from the test, so it can die without a word, as a process killed with -9 does.
        var b = await Apps.StartPlainAsync("web-b");
        var bPort = Apps.Address(b).Port;
        using var halo = new HaloClient(url);
        await halo.RegisterAsync("web", "web-b", new { address = "127.0.0.1", port = bPort, ttl = "200ms" });
        using var crash = new CancellationTokenSource();
        var heartbeats = Task.Run(async () =>
        {
            while (!crash.IsCancellationRequested)
            {
                await halo.HeartbeatAsync("web", "web-b");
                await Task.Delay(200);
            }
        });
        var attemptsOnB = new List<long>(); // timestamps of attempts that went to web-b
        // Round robin (Halo.Core's): web-b keeps getting every other try after the kill, so the test always meets the dead
        // instance; peak-ewma on a starved machine could steer every try to web-a and leave nothing to show.
        var (callerApp, caller) = await Apps.StartCallerAsync(url, "web", retries: 2, balancing: "round-robin", sent: uri =>
        {
            if (uri.Port == bPort)
            {
                lock (attemptsOnB) attemptsOnB.Add(TimeProvider.System.GetTimestamp());
            }
        });
        await using var _ = callerApp;
        var catalog = callerApp.Services.GetRequiredService<HaloServiceCatalog>();
        await Apps.UntilAsync(() => Task.FromResult(catalog.Routable("web").Count == 2), Bound, "the caller to see both");
        var bound = (await halo.ServicesAsync()).Services.Single(s => s.Name == "web").DetectionBound;
        Assert.True(Durations.TryParse(bound, out var detection), bound);

        // Death as kill -9 makes it: heartbeats stop and the port closes at one moment, stamped before either, so a slow
        // stop on a starved machine cannot let the detector act before the test starts watching.
        var killed = TimeProvider.System.GetTimestamp();
        await crash.CancelAsync();
        await Servers.KillAsync(b);
        await heartbeats;
        var failures = new List<string>();
        var calls = 0;
        TimeSpan? left = null;
        while (TimeProvider.System.GetElapsedTime(killed) < detection + TimeSpan.FromSeconds(2))
        {
            try
            {
                using var response = await caller.GetAsync("/");
                calls++;
                if (!response.IsSuccessStatusCode) failures.Add($"{TimeProvider.System.GetElapsedTime(killed)}: {(int)response.StatusCode}");
            }
            catch (HttpRequestException ex)
            {
                failures.Add($"{TimeProvider.System.GetElapsedTime(killed)}: {ex.Message} [{string.Join(", ", catalog.Routable("web").Select(i => $"{i.Id} {i.Health}"))}]");
            }

            if (left is null && catalog.Routable("web").All(i => i.Id != "web-b"))
            {
                left = TimeProvider.System.GetElapsedTime(killed);
            }

            await Task.Delay(20);
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
        Assert.True(calls > 20, $"{calls} calls");
        Assert.NotNull(left);
        // The detector's bound, plus the feed's propagation on a busy machine.
        Assert.True(left <= detection + TimeSpan.FromSeconds(1), $"left after {left}, bound {detection}");
        long[] afterKill;
        lock (attemptsOnB) afterKill = attemptsOnB.Where(t => t > killed).ToArray();
        // It failed some tries before the server judged it (those were retried on web-a), and none once it was out of the set.
        Assert.NotEmpty(afterKill);
        Assert.All(afterKill, t => Assert.True(TimeProvider.System.GetElapsedTime(killed, t) <= left, "an attempt went to web-b after it left the set"));

        // The refused tries reach the server as a caller report from this application, as a gateway's would.
        await callerApp.Services.GetRequiredService<HaloCallerReports>().FlushAsync(CancellationToken.None);
        var verdict = await halo.ReportAsync("web", "web-b", new CallerReport("test", null, TimeSpan.FromSeconds(5), 0, 0, 0, 0, 0, false));
        Assert.NotNull(verdict);
        Assert.Contains(verdict.Reporters, r => r.StartsWith("app@", StringComparison.Ordinal));
        Assert.True(verdict.Failures >= afterKill.Length, $"{verdict.Failures} failures reported, {afterKill.Length} tries failed");
    }

    [Fact]
    public async Task CallerReports_InstanceFailingCalls_JudgedCriticalByServer()
    {
        await using var servers = await Servers.StartAsync();
        var (_, url) = await servers.AddServerAsync();
        // The default heartbeat (1 s), so a starved machine does not make web-a critical by late heartbeats: the test is about reports.
        await using var a = await Apps.StartServiceAsync(url, "web", "web-a", configure: o => o.HeartbeatInterval = TimeSpan.FromSeconds(1));
        await using var b = await Apps.StartPlainAsync("web-b", status: 500);
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
        // Round robin keeps sending web-b its share, so the server has enough calls to judge.
        var (callerApp, caller) = await Apps.StartCallerAsync(url, "web", balancing: "round-robin");
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

    [Fact]
    public async Task RoundRobin_TwoPassingInstances_Alternate()
    {
        await using var servers = await Servers.StartAsync();
        var (_, url) = await servers.AddServerAsync();
        await using var a = await Apps.StartServiceAsync(url, "web", "web-a");
        await using var b = await Apps.StartServiceAsync(url, "web", "web-b");
        var (callerApp, caller) = await Apps.StartCallerAsync(url, "web", balancing: "round-robin");
        await using var _ = callerApp;
        var catalog = callerApp.Services.GetRequiredService<HaloServiceCatalog>();
        await Apps.UntilAsync(() => Task.FromResult(catalog.Routable("web").Count(i => i.Health == Core.Detection.HealthStatus.Passing) == 2),
            Bound, "the caller to see both passing");

        var answers = new List<string>();
        for (var i = 0; i < 6; i++)
        {
            answers.Add(await caller.GetStringAsync("/"));
        }

        // Halo.Core's RoundRobinPolicy: each in turn.
        Assert.Equal(3, answers.Count(x => x == "web-a"));
        Assert.All(answers.Zip(answers.Skip(1)), pair => Assert.NotEqual(pair.First, pair.Second));
    }

    [Fact]
    public async Task NoCatalogYet_CallFailsWithReason_NotDnsError()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseSetting("urls", "http://127.0.0.1:0");
        builder.Services.AddHaloClient(o => o.Server = Servers.DeadUrl().ToString());
        builder.Services.AddHaloServiceDiscovery(o => o.InitialWait = TimeSpan.FromMilliseconds(300));
        builder.Services.AddHttpClient("callee", c => c.BaseAddress = new Uri("http://web")).AddHaloServiceDiscovery();
        await using var app = builder.Build();
        await app.StartAsync();
        var caller = app.Services.GetRequiredService<IHttpClientFactory>().CreateClient("callee");

        var error = await Assert.ThrowsAsync<HttpRequestException>(() => caller.GetAsync("/"));

        Assert.Equal(HttpRequestError.NameResolutionError, error.HttpRequestError);
        Assert.Contains("Halo discovery cannot resolve 'web': no catalog read from Halo yet", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("fastest", null, "Halo:Discovery:Balancing: 'fastest' is not one of")]
    [InlineData("round-robin", "-00:00:01", "Halo:Discovery:InitialWait: ")]
    public async Task BadDiscoveryOptions_FailAtStartNamingOption(string balancing, string? initialWait, string expected)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseSetting("urls", "http://127.0.0.1:0");
        builder.Services.AddHaloClient(o => o.Server = "http://127.0.0.1:1");
        builder.Services.AddHaloServiceDiscovery(o =>
        {
            o.Balancing = balancing;
            if (initialWait is not null) o.InitialWait = TimeSpan.Parse(initialWait, System.Globalization.CultureInfo.InvariantCulture);
        });
        await using var app = builder.Build();

        var error = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() => app.StartAsync());

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }
}
