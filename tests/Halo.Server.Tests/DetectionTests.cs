using System.Text.Json;
using Halo.Core.Detection;
using Halo.Server.Detection;
using Microsoft.Extensions.DependencyInjection;

namespace Halo.Server.Tests;

/// <summary>The server's detector loop on a fake clock: silent instances go down within the bound, live ones stay up.</summary>
public sealed class DetectionTests
{
    [Fact]
    public async Task SilentInstance_FixedDetector_CriticalWithinBoundWithEvidence()
    {
        await using var server = await ServerFixture.StartAsync();
        (await server.RegisterAsync("web", "web-1", new { address = "127.0.0.1", port = 8080, ttl = "1s" })).Dispose();
        var bound = DetectionBound.Compute(new DetectorOptions()).Total;

        await server.AdvanceAsync(bound - TimeSpan.FromMilliseconds(600));
        Assert.NotEqual("critical", await HealthAsync(server, "web-1"));
        await server.AdvanceAsync(TimeSpan.FromMilliseconds(700));

        Assert.Equal("critical", await HealthAsync(server, "web-1"));
        var events = (await server.GetJsonAsync("/v1/events?type=health")).GetProperty("events").EnumerateArray().ToList();
        var down = events.Single(e => e.GetProperty("to").GetString() == "critical");
        Assert.Contains("missed", down.GetProperty("cause").GetString(), StringComparison.Ordinal);
        Assert.True(down.GetProperty("evidence").GetProperty("silenceSeconds").GetDouble() >= 3);
    }

    [Fact]
    public async Task Restart_SlowStart_GraceCountsFromListening()
    {
        await using var server = await ServerFixture.StartAsync();
        (await server.RegisterAsync("web", "web-1", new { address = "127.0.0.1", port = 8080, ttl = "1s" })).Dispose();
        await server.App.StopAsync();
        var budget = DetectionBound.PauseBudget(new DetectorOptions()).Total;

        // A restarted server loads web-1, then takes twice the bound to listen (a busy machine): nobody could reach it meanwhile.
        await using var restarted = await HaloServerHost.BuildAsync(
            new ServerOptions { Listen = "http://127.0.0.1:0", DataDirectory = server.Directory }, server.Store, server.Time);
        server.Time.Advance(2 * DetectionBound.Compute(new DetectorOptions()).Total);
        await restarted.StartAsync();
        var loop = restarted.Services.GetRequiredService<DetectorLoop>();
        for (var t = TimeSpan.Zero; t < budget - TimeSpan.FromMilliseconds(300); t += TimeSpan.FromMilliseconds(100))
        {
            server.Time.Advance(TimeSpan.FromMilliseconds(100));
            await loop.TickAsync(CancellationToken.None);
        }

        Assert.NotEqual(nameof(HealthStatus.Critical), await StoredHealthAsync(server, "web-1"));

        // Still judged: silent past the bound from the start, it goes critical.
        for (var i = 0; i < 10; i++)
        {
            server.Time.Advance(TimeSpan.FromMilliseconds(100));
            await loop.TickAsync(CancellationToken.None);
        }

        Assert.Equal(nameof(HealthStatus.Critical), await StoredHealthAsync(server, "web-1"));
        await restarted.StopAsync();
    }

    [Fact]
    public async Task HeartbeatingInstance_LateWithinPauseBudget_NeverCritical()
    {
        await using var server = await ServerFixture.StartAsync();
        (await server.RegisterAsync("web", "web-1", new { address = "127.0.0.1", port = 8080, ttl = "1s" })).Dispose();
        var budget = DetectionBound.PauseBudget(new DetectorOptions()).Total;

        for (var i = 0; i < 5; i++)
        {
            await server.AdvanceAsync(budget - TimeSpan.FromMilliseconds(300));
            using var _ = await server.Http.PostAsync("/v1/services/web/instances/web-1/heartbeat", null);
        }

        Assert.NotEqual("critical", await HealthAsync(server, "web-1"));
        var events = (await server.GetJsonAsync("/v1/events?type=health")).GetProperty("events").EnumerateArray();
        Assert.DoesNotContain(events, e => e.GetProperty("to").GetString() == "critical");
    }

    [Fact]
    public async Task CriticalInstance_HeartbeatsResume_PassingAfterUpAfter()
    {
        await using var server = await ServerFixture.StartAsync();
        (await server.RegisterAsync("web", "web-1")).Dispose();
        await server.AdvanceAsync(TimeSpan.FromSeconds(5));
        Assert.Equal("critical", await HealthAsync(server, "web-1"));

        for (var i = 0; i < 3; i++)
        {
            using var _ = await server.Http.PostAsync("/v1/services/web/instances/web-1/heartbeat", null);
            await server.AdvanceAsync(TimeSpan.FromMilliseconds(500));
        }

        Assert.Equal("passing", await HealthAsync(server, "web-1"));
    }

    [Fact]
    public async Task PhiAccrualRegistration_SilentInstance_CriticalWithPhiEvidence()
    {
        await using var server = await ServerFixture.StartAsync();
        (await server.RegisterAsync("web", "web-1", new { address = "127.0.0.1", port = 8080, ttl = "1s", detector = new { kind = "phiAccrual", phiThreshold = 8 } })).Dispose();
        for (var i = 0; i < 10; i++)
        {
            await server.AdvanceAsync(TimeSpan.FromSeconds(1));
            using var _ = await server.Http.PostAsync("/v1/services/web/instances/web-1/heartbeat", null);
        }

        var bound = DetectionBound.Compute(new DetectorOptions { Kind = DetectorKind.PhiAccrual }).Total;
        await server.AdvanceAsync(bound + TimeSpan.FromMilliseconds(500));

        Assert.Equal("critical", await HealthAsync(server, "web-1"));
        var down = (await server.GetJsonAsync("/v1/events?type=health")).GetProperty("events").EnumerateArray()
            .Single(e => e.GetProperty("to").GetString() == "critical");
        Assert.True(down.GetProperty("evidence").GetProperty("phi").GetDouble() >= 8);
    }

    [Fact]
    public async Task MostInstancesSilent_BrakeEngaged_HeldAtSuspectAndEventRaised()
    {
        await using var server = await ServerFixture.StartAsync();
        for (var i = 1; i <= 4; i++)
        {
            (await server.RegisterAsync("web", $"web-{i}")).Dispose();
        }

        for (var t = 0; t < 20; t++)
        {
            using var _ = await server.Http.PostAsync("/v1/services/web/instances/web-1/heartbeat", null);
            await server.AdvanceAsync(TimeSpan.FromMilliseconds(500));
        }

        var instances = (await server.GetJsonAsync("/v1/services/web/instances")).GetProperty("instances").EnumerateArray().ToList();
        Assert.Equal("passing", instances[0].GetProperty("health").GetString());
        Assert.All(instances.Skip(1), i => Assert.Equal("suspect", i.GetProperty("health").GetString()));
        Assert.Equal(1, (await server.GetJsonAsync("/v1/events?type=brake-engaged")).GetProperty("events").GetArrayLength());
        var services = await server.GetJsonAsync("/v1/services");
        Assert.True(services.GetProperty("services")[0].GetProperty("brakeEngaged").GetBoolean());
    }

    [Fact]
    public async Task CriticalInstance_RemoveAfterElapsed_RemovedWithEvent()
    {
        await using var server = await ServerFixture.StartAsync();
        (await server.RegisterAsync("web", "web-1", new { address = "127.0.0.1", port = 8080, detector = new { removeAfter = "5s" } })).Dispose();

        await server.AdvanceAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(0, (await server.GetJsonAsync("/v1/services")).GetProperty("services").GetArrayLength());
        Assert.Equal(1, (await server.GetJsonAsync("/v1/events?type=removed")).GetProperty("events").GetArrayLength());
    }

    // What the store holds (the restarted server of a test has no HTTP client of the fixture's).
    private static async Task<string> StoredHealthAsync(ServerFixture server, string id)
    {
        var kv = (await server.Store.GetAsync(Halo.Server.Registry.RegistryKeys.Instance("web", id), CancellationToken.None)).Item;
        Assert.NotNull(kv);
        return JsonSerializer.Deserialize<Halo.Core.Registry.InstanceRecord>(kv.Value.Span, Halo.Core.Serialization.HaloJson.Options)!.Health.ToString();
    }

    private static async Task<string?> HealthAsync(ServerFixture server, string id)
    {
        var list = await server.GetJsonAsync("/v1/services/web/instances");
        return list.GetProperty("instances").EnumerateArray().Single(i => i.GetProperty("id").GetString() == id).GetProperty("health").GetString();
    }
}
