using Halo.Server.Detection;
using Halo.Server.Registry;
using Microsoft.Extensions.DependencyInjection;

namespace Halo.Server.Tests;

/// <summary>
/// The detector loop looks only at instances that need it (new or changed, due for an evaluation, or whose raw verdict can
/// have worsened), while the brake still counts every instance: a skipped instance must never hide a change.
/// </summary>
public sealed class DetectorScheduleTests
{
    [Fact]
    public async Task QuietInstances_LongTtl_TicksVisitNoneUntilOneChanges()
    {
        await using var server = await ServerFixture.StartAsync();
        for (var i = 0; i < 50; i++)
        {
            (await server.RegisterAsync("web", $"web-{i}", new { address = "127.0.0.1", port = 8080, ttl = "1h" })).Dispose();
        }

        // The fixture's clock also wakes the loop's own timer, so ticks are counted together, not one by one.
        await server.AdvanceAsync(TimeSpan.FromMilliseconds(100));
        var shard = Shard(server);
        Assert.Equal(50, shard.Visits);

        await server.AdvanceAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(50, shard.Visits);

        (await server.RegisterAsync("web", "web-new", new { address = "127.0.0.1", port = 8080, ttl = "1h" })).Dispose();
        await server.AdvanceAsync(TimeSpan.FromMilliseconds(100));
        Assert.Equal(51, shard.Visits);
    }

    [Fact]
    public async Task HeartbeatingInstances_LookedAtOncePerHeartbeatNotEveryTick_AndStayPassing()
    {
        await using var server = await ServerFixture.StartAsync();
        const int count = 20;
        for (var i = 0; i < count; i++)
        {
            (await server.RegisterAsync("web", $"web-{i}", new { address = "127.0.0.1", port = 8080, ttl = "1s" })).Dispose();
        }

        var loop = server.App.Services.GetRequiredService<DetectorLoop>();
        var shard = Shard(server);
        var before = shard.Visits;
        for (var tick = 1; tick <= 100; tick++)
        {
            server.Time.Advance(TimeSpan.FromMilliseconds(100));
            if (tick % 10 == 0)
            {
                for (var i = 0; i < count; i++)
                {
                    using var _ = await server.Http.PostAsync($"/v1/services/web/instances/web-{i}/heartbeat", null);
                }
            }

            await loop.TickAsync(CancellationToken.None);
        }

        // Judging all 20 on each of 100 ticks was 2,000 looks; one look per instance per heartbeat period is about 200.
        Assert.InRange(shard.Visits - before, count, 400);
        var instances = (await server.GetJsonAsync("/v1/services/web/instances")).GetProperty("instances").EnumerateArray();
        Assert.All(instances, i => Assert.Equal("passing", i.GetProperty("health").GetString()));
    }

    [Fact]
    public async Task CriticalInstanceHeartbeats_BrakeCountDropsOnTheNextTick()
    {
        await using var server = await ServerFixture.StartAsync();
        for (var i = 1; i <= 5; i++)
        {
            (await server.RegisterAsync("web", $"web-{i}", new { address = "127.0.0.1", port = 8080, ttl = "1s" })).Dispose();
        }

        // web-1 and web-2 fall silent: 2 of 5 is under the brake's half, so both go critical.
        await HeartbeatAsync(server, TimeSpan.FromSeconds(6), "web-3", "web-4", "web-5");
        Assert.Equal("critical", await HealthAsync(server, "web-1"));
        Assert.Equal("critical", await HealthAsync(server, "web-2"));
        Assert.False(Shard(server).IsBrakeEngaged);

        // web-3 falls silent too: 3 of 5 would be critical, the brake engages and holds web-3 at suspect.
        await HeartbeatAsync(server, TimeSpan.FromSeconds(6), "web-4", "web-5");
        Assert.True(Shard(server).IsBrakeEngaged);
        Assert.Equal("suspect", await HealthAsync(server, "web-3"));

        // One heartbeat from web-1 (critical, left alone by the schedule until it is heard from) takes it out of the count.
        using (await server.Http.PostAsync("/v1/services/web/instances/web-1/heartbeat", null))
        {
        }

        await server.AdvanceAsync(TimeSpan.FromMilliseconds(100));
        Assert.False(Shard(server).IsBrakeEngaged);
        await server.AdvanceAsync(TimeSpan.FromSeconds(1));
        Assert.Equal("critical", await HealthAsync(server, "web-3"));
        Assert.Equal(1, (await server.GetJsonAsync("/v1/events?type=brake-released")).GetProperty("events").GetArrayLength());
    }

    private static async Task HeartbeatAsync(ServerFixture server, TimeSpan duration, params string[] ids)
    {
        for (var t = TimeSpan.Zero; t < duration; t += TimeSpan.FromMilliseconds(500))
        {
            foreach (var id in ids)
            {
                using var _ = await server.Http.PostAsync($"/v1/services/web/instances/{id}/heartbeat", null);
            }

            await server.AdvanceAsync(TimeSpan.FromMilliseconds(500));
        }
    }

    private static ServiceShard Shard(ServerFixture server) =>
        server.App.Services.GetRequiredService<InstanceRegistry>().Shards().Single(s => s.Name == "web");

    private static async Task<string?> HealthAsync(ServerFixture server, string id)
    {
        var list = await server.GetJsonAsync("/v1/services/web/instances");
        return list.GetProperty("instances").EnumerateArray().Single(i => i.GetProperty("id").GetString() == id).GetProperty("health").GetString();
    }
}
