using System.Text.Json;
using Halo.Server.Events;
using Microsoft.Extensions.DependencyInjection;

namespace Halo.Server.Tests;

/// <summary>The event history: one order across servers sharing a store, and retention kept by kind.</summary>
public sealed class EventHistoryTests
{
    [Fact]
    public async Task Events_TwoServersShareAStore_BothListEveryEventInOneRevisionOrder()
    {
        await using var a = await ServerFixture.StartAsync();
        await using var b = await a.StartPeerAsync();
        for (var i = 1; i <= 6; i++)
        {
            (await (i % 2 == 0 ? a : b).RegisterAsync("web", $"web-{i}")).EnsureSuccessStatusCode();
        }

        var fromA = await RegisteredAsync(a);
        var fromB = await RegisteredAsync(b);
        // Each server numbered its own events from 1 before; now no event overwrites another and both agree on the order.
        Assert.Equal(6, fromA.Count);
        Assert.Equal(fromA, fromB);
        Assert.Equal(fromA.Select(e => e.Revision).Order(), fromA.Select(e => e.Revision));
        Assert.Equal(6, fromA.Select(e => e.Revision).Distinct().Count());
        Assert.Equal(Enumerable.Range(1, 6).Select(i => $"web-{i}").Order(), fromA.Select(e => e.Instance).Order());
    }

    [Fact]
    public async Task Events_AfterRevisionOnAnotherServer_ResumesWithNoGapOrDuplicate()
    {
        await using var a = await ServerFixture.StartAsync();
        await using var b = await a.StartPeerAsync();
        (await a.RegisterAsync("web", "web-1")).EnsureSuccessStatusCode();
        (await a.RegisterAsync("web", "web-2")).EnsureSuccessStatusCode();
        var seen = await RegisteredAsync(a);
        (await a.RegisterAsync("web", "web-3")).EnsureSuccessStatusCode();
        (await b.RegisterAsync("web", "web-4")).EnsureSuccessStatusCode();

        var rest = await RegisteredAsync(b, after: seen[^1].Revision);
        Assert.Equal(["web-3", "web-4"], rest.Select(e => e.Instance));
    }

    [Fact]
    public async Task Prune_RegistrationFlood_KeepsTheHealthHistory()
    {
        await using var server = await ServerFixture.StartAsync(new ServerOptions { EventRetention = 100 });
        (await server.RegisterAsync("db", "db-1")).EnsureSuccessStatusCode();
        await server.AdvanceAsync(TimeSpan.FromSeconds(5));
        var incident = await server.GetJsonAsync("/v1/events?type=health");
        Assert.Contains(incident.GetProperty("events").EnumerateArray(), e => e.GetProperty("to").GetString() == "critical");

        for (var i = 0; i < 120; i++)
        {
            (await server.RegisterAsync("web", $"web-{i}")).EnsureSuccessStatusCode();
        }

        var pruned = await server.App.Services.GetRequiredService<EventLog>().PruneAsync(CancellationToken.None);
        Assert.True(pruned >= 21, $"pruned {pruned}: the 121 registrations are over the retention of 100");
        var after = await server.GetJsonAsync("/v1/events?type=health&limit=10000");
        Assert.Equal(incident.GetProperty("events").GetArrayLength(), after.GetProperty("events").GetArrayLength());
        var registered = await server.GetJsonAsync("/v1/events?type=registered&limit=10000");
        Assert.Equal(100, registered.GetProperty("events").GetArrayLength());
    }

    [Fact]
    public async Task Prune_MoreThanAThousandPruned_HistoryCompactedAndCountsStayRight()
    {
        // Pruned events are marked and compacted away in bulk (past 1,024 marked and half the history), not removed one by one.
        await using var server = await ServerFixture.StartAsync(new ServerOptions { EventRetention = 100 });
        for (var i = 0; i < 1_300; i++)
        {
            (await server.RegisterAsync("web", $"web-{i}")).EnsureSuccessStatusCode();
        }

        var log = server.App.Services.GetRequiredService<EventLog>();
        Assert.Equal(1_200, await log.PruneAsync(CancellationToken.None));

        var registered = await server.GetJsonAsync("/v1/events?type=registered&limit=10000");
        var kept = registered.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("instance").GetString()).ToList();
        Assert.Equal(Enumerable.Range(1_200, 100).Select(i => $"web-{i}"), kept);
        Assert.Equal(100, log.History("web").Count);
        Assert.Equal(0, await log.PruneAsync(CancellationToken.None));
    }

    private sealed record Seen(long Revision, string Instance);

    private static async Task<List<Seen>> RegisteredAsync(ServerFixture server, long after = 0)
    {
        var body = await server.GetJsonAsync($"/v1/events?type=registered&after={after}&limit=1000");
        return body.GetProperty("events").EnumerateArray()
            .Select(e => new Seen(e.GetProperty("revision").GetInt64(), e.GetProperty("instance").GetString()!)).ToList();
    }
}
