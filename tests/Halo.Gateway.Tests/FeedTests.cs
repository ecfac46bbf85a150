using Halo.Core.Detection;
using Halo.Core.Registry;
using Halo.Gateway.Feed;
using Halo.Gateway.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Halo.Gateway.Tests;

public class FeedTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    private static string Yaml(string extra = "") => $"""
        routes: [{"{"}cluster: web{"}"}]
        clusters:
          web:
            service: web
            policy: round-robin
            # Long per-try timeout: on a loaded machine an 800 ms request must not be retried elsewhere.
            retry: {"{"} perTryTimeout: 5s {"}"}
        {extra}
        """;

    private static InstanceRecord Instance(string id, InProcessBackend b, bool draining = false, HealthStatus health = HealthStatus.Passing) =>
        new() { Service = "web", Id = id, Address = "127.0.0.1", Port = b.Port, Draining = draining, Health = health };

    [Fact]
    public async Task Feed_PutInstances_RoutesToThemAndTracksRevision()
    {
        await using var cp = await FakeControlPlane.StartAsync();
        await using var a = await InProcessBackend.StartAsync("a");
        await using var b = await InProcessBackend.StartAsync("b");
        cp.Put(Instance("a", a));
        await using var gw = await InProcessGateway.StartAsync(Yaml(), cp.Url);
        var holder = gw.Services.GetRequiredService<RoutingTableHolder>();
        await Wait.UntilAsync(() => holder.Current?.Revision == 1, Bound, "catalog revision 1");

        cp.Put(Instance("b", b));
        await Wait.UntilAsync(() => holder.Current?.Revision == 2, Bound, "watch revision 2");

        var seen = new HashSet<string>();
        for (var i = 0; i < 6; i++)
        {
            seen.Add(await gw.GetBackendAsync());
        }

        Assert.Equal(["a", "b"], seen.Order());
    }

    [Fact]
    public async Task Feed_BadUpdate_RejectedAndLastGoodTableStays()
    {
        await using var cp = await FakeControlPlane.StartAsync();
        await using var a = await InProcessBackend.StartAsync("a");
        cp.Put(Instance("a", a));
        await using var gw = await InProcessGateway.StartAsync(Yaml(), cp.Url);
        var holder = gw.Services.GetRequiredService<RoutingTableHolder>();
        await Wait.UntilAsync(() => holder.Current?.Revision == 1, Bound, "revision 1");
        var table = holder.Current;

        cp.PutRaw("""{"service":"web","id":"a","address":"127.0.0.1","port":70000}""");
        cp.PutRaw("not json at all");
        cp.Put(new InstanceRecord { Service = "web", Id = "x", Address = "", Port = 1 });
        var feed = gw.Services.GetRequiredService<CatalogFeed>();
        await Wait.UntilAsync(() => feed.Revision == 4, Bound, "feed to pass the bad updates");

        Assert.Same(table, holder.Current);
        Assert.Equal("a", await gw.GetBackendAsync());
    }

    [Fact]
    public async Task Feed_Reset_RereadsCatalog()
    {
        await using var cp = await FakeControlPlane.StartAsync();
        await using var a = await InProcessBackend.StartAsync("a");
        cp.Put(Instance("a", a));
        await using var gw = await InProcessGateway.StartAsync(Yaml(), cp.Url);
        var holder = gw.Services.GetRequiredService<RoutingTableHolder>();
        await Wait.UntilAsync(() => holder.Current?.Revision == 1, Bound, "revision 1");

        cp.Reset();

        await Wait.UntilAsync(() => cp.CatalogReads >= 2, Bound, "a second catalog read");
        await Wait.UntilAsync(() => holder.Current?.Revision == 2, Bound, "catalog at revision 2");
        Assert.Equal("a", await gw.GetBackendAsync());
    }

    [Fact]
    public async Task Feed_ServerUnreachable_KeepsServingLastTable()
    {
        var cp = await FakeControlPlane.StartAsync();
        await using var a = await InProcessBackend.StartAsync("a");
        cp.Put(Instance("a", a));
        await using var gw = await InProcessGateway.StartAsync(Yaml(), cp.Url);
        var holder = gw.Services.GetRequiredService<RoutingTableHolder>();
        await Wait.UntilAsync(() => holder.Current?.Revision == 1, Bound, "revision 1");

        await cp.DisposeAsync();
        var metrics = "";
        var stale = new System.Text.RegularExpressions.Regex("halo_gateway_feed_stale\\{[^}]*\\} 1");
        for (var i = 0; i < 100 && !stale.IsMatch(metrics); i++)
        {
            await Task.Delay(100);
            metrics = await gw.Client.GetStringAsync("/metrics");
        }

        Assert.Matches(stale, metrics);
        Assert.Contains("halo_gateway_routing_table_revision", metrics, StringComparison.Ordinal);
        Assert.Equal("a", await gw.GetBackendAsync());
    }

    [Fact]
    public async Task Draining_InFlightFinishes_NoNewRequests()
    {
        await using var cp = await FakeControlPlane.StartAsync();
        await using var a = await InProcessBackend.StartAsync("a");
        await using var b = await InProcessBackend.StartAsync("b");
        cp.Put(Instance("a", a));
        await using var gw = await InProcessGateway.StartAsync(Yaml(), cp.Url);
        var holder = gw.Services.GetRequiredService<RoutingTableHolder>();
        await Wait.UntilAsync(() => holder.Current?.Revision == 1, Bound, "revision 1");

        // Only "a" exists: these slow requests are in flight on it when it starts draining.
        var inFlight = Enumerable.Range(0, 4).Select(_ => gw.Client.GetAsync("/slow?ms=800")).ToList();
        await Wait.UntilAsync(() => a.Hits >= 4, Bound, "requests in flight on a");
        cp.Put(Instance("b", b));
        cp.Put(Instance("a", a, draining: true));
        await Wait.UntilAsync(() => holder.Current?.Revision == 3, Bound, "drain applied");

        var hitsOnA = a.Hits;
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal("b", await gw.GetBackendAsync());
        }

        foreach (var r in await Task.WhenAll(inFlight))
        {
            Assert.True(r.IsSuccessStatusCode);
            Assert.Equal("a", r.Headers.GetValues("X-Backend").Single());
        }

        Assert.Equal(hitsOnA, a.Hits);
    }

    [Fact]
    public async Task Reporter_FailuresSeen_ReportedToServer()
    {
        await using var cp = await FakeControlPlane.StartAsync();
        await using var a = await InProcessBackend.StartAsync("a");
        cp.Put(Instance("a", a));
        await using var gw = await InProcessGateway.StartAsync(Yaml(), cp.Url);
        var holder = gw.Services.GetRequiredService<RoutingTableHolder>();
        await Wait.UntilAsync(() => holder.Current?.Revision == 1, Bound, "revision 1");

        using var r = await gw.Client.GetAsync("/status/500");
        // The gateway counts the outcome once the exchange completes, which can be just after the client has the answer (CI: a
        // flush right after it found nothing to send): flush until the report is out, bounded.
        var reporter = gw.Services.GetRequiredService<Health.FailureReporter>();
        var deadline = TimeProvider.System.GetTimestamp();
        await reporter.FlushAsync(CancellationToken.None);
        while (cp.Reports.IsEmpty && TimeProvider.System.GetElapsedTime(deadline) < Bound)
        {
            await Task.Delay(20);
            await reporter.FlushAsync(CancellationToken.None);
        }

        var report = Assert.Single(cp.Reports);
        Assert.StartsWith("web/a ", report, StringComparison.Ordinal);
        Assert.Contains("\"serverErrors\":1", report, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reporter_ServerWithoutEndpoint_Tolerated()
    {
        await using var cp = await FakeControlPlane.StartAsync();
        cp.ReportsEndpointMissing = true;
        await using var a = await InProcessBackend.StartAsync("a");
        cp.Put(Instance("a", a));
        await using var gw = await InProcessGateway.StartAsync(Yaml(), cp.Url);
        var holder = gw.Services.GetRequiredService<RoutingTableHolder>();
        await Wait.UntilAsync(() => holder.Current?.Revision == 1, Bound, "revision 1");

        using var r = await gw.Client.GetAsync("/status/500");
        await gw.Services.GetRequiredService<Health.FailureReporter>().FlushAsync(CancellationToken.None);

        Assert.Equal("a", await gw.GetBackendAsync());
    }
}
