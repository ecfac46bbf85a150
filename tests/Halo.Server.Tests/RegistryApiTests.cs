using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Halo.Core.Serialization;

namespace Halo.Server.Tests;

public sealed class RegistryApiTests
{
    [Fact]
    public async Task Register_NewInstance_CreatedAndListed()
    {
        await using var server = await ServerFixture.StartAsync();

        using var created = await server.RegisterAsync("web", "web-1", new
        {
            address = "127.0.0.1", port = 8081, weight = 5, zone = "a", tags = new[] { "v2" }, metadata = new Dictionary<string, string> { ["k"] = "v" }, ttl = "2s",
        });

        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var body = JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("passing", body.GetProperty("health").GetString());
        Assert.Equal("2s", body.GetProperty("ttl").GetString());
        Assert.True(body.GetProperty("revision").GetInt64() > 0);

        var list = await server.GetJsonAsync("/v1/services/web/instances");
        var instance = Assert.Single(list.GetProperty("instances").EnumerateArray());
        Assert.Equal(8081, instance.GetProperty("port").GetInt32());
        Assert.Equal(5, instance.GetProperty("weight").GetInt32());
        Assert.Equal("a", instance.GetProperty("zone").GetString());
        Assert.Equal("v", instance.GetProperty("metadata").GetProperty("k").GetString());
    }

    [Fact]
    public async Task Register_Existing_UpdatesInPlaceAndKeepsRegisteredAt()
    {
        await using var server = await ServerFixture.StartAsync();
        using var first = await server.RegisterAsync("web", "web-1");
        var registeredAt = JsonDocument.Parse(await first.Content.ReadAsStringAsync()).RootElement.GetProperty("registeredAt").GetString();
        server.Time.Advance(TimeSpan.FromSeconds(1));

        using var second = await server.RegisterAsync("web", "web-1", new { address = "127.0.0.1", port = 9090 });

        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        var body = JsonDocument.Parse(await second.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(9090, body.GetProperty("port").GetInt32());
        Assert.Equal(registeredAt, body.GetProperty("registeredAt").GetString());
    }

    [Fact]
    public async Task Services_SeveralServices_CountsByHealth()
    {
        await using var server = await ServerFixture.StartAsync();
        (await server.RegisterAsync("web", "web-1")).Dispose();
        (await server.RegisterAsync("web", "web-2")).Dispose();
        (await server.RegisterAsync("api", "api-1")).Dispose();

        var services = (await server.GetJsonAsync("/v1/services")).GetProperty("services").EnumerateArray().ToList();

        Assert.Equal(["api", "web"], services.Select(s => s.GetProperty("name").GetString()));
        Assert.Equal(2, services[1].GetProperty("passing").GetInt32());
        Assert.Equal(0, services[1].GetProperty("critical").GetInt32());
        Assert.Equal("3.5s", services[1].GetProperty("detectionBound").GetString()); // 3 × 1 s missed + 2 × 250 ms confirmations
    }

    [Fact]
    public async Task Deregister_Existing_RemovedAndEventRecorded()
    {
        await using var server = await ServerFixture.StartAsync();
        (await server.RegisterAsync("web", "web-1")).Dispose();

        using var deleted = await server.Http.DeleteAsync("/v1/services/web/instances/web-1");
        using var again = await server.Http.DeleteAsync("/v1/services/web/instances/web-1");

        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
        Assert.Equal("application/problem+json", again.Content.Headers.ContentType?.MediaType);
        var events = (await server.GetJsonAsync("/v1/events")).GetProperty("events").EnumerateArray().Select(e => e.GetProperty("type").GetString());
        Assert.Equal(["registered", "deregistered"], events);
    }

    [Fact]
    public async Task Heartbeat_UnknownInstance_NotFoundProblem()
    {
        await using var server = await ServerFixture.StartAsync();

        using var response = await server.Http.PostAsync("/v1/services/web/instances/nope/heartbeat", null);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("register it first", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task HeartbeatMany_MixedKnownAndUnknown_ReportsUnknown()
    {
        await using var server = await ServerFixture.StartAsync();
        (await server.RegisterAsync("web", "web-1")).Dispose();
        (await server.RegisterAsync("web", "web-2")).Dispose();

        using var response = await server.Http.PostAsJsonAsync("/v1/heartbeats", new
        {
            instances = new[] { new { service = "web", id = "web-1" }, new { service = "web", id = "web-2" }, new { service = "web", id = "ghost" } },
        });

        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(2, body.GetProperty("accepted").GetInt32());
        Assert.Equal("ghost", Assert.Single(body.GetProperty("unknown").EnumerateArray()).GetProperty("id").GetString());
    }

    [Fact]
    public async Task Drain_Instance_MarkedDrainingWithEvent()
    {
        await using var server = await ServerFixture.StartAsync();
        (await server.RegisterAsync("web", "web-1")).Dispose();

        using var response = await server.Http.PutAsJsonAsync("/v1/services/web/instances/web-1/drain", new { draining = true });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var instance = (await server.GetJsonAsync("/v1/services/web/instances")).GetProperty("instances")[0];
        Assert.True(instance.GetProperty("draining").GetBoolean());
        Assert.Equal("passing", instance.GetProperty("health").GetString());
        var drained = (await server.GetJsonAsync("/v1/events?type=draining")).GetProperty("events");
        Assert.Equal(1, drained.GetArrayLength());
    }

    [Fact]
    public async Task Instances_HealthFilter_OnlyMatching()
    {
        await using var server = await ServerFixture.StartAsync();
        (await server.RegisterAsync("web", "web-1")).Dispose();
        (await server.RegisterAsync("web", "web-2")).Dispose();
        await server.AdvanceAsync(TimeSpan.FromSeconds(2));
        await server.Http.PostAsync("/v1/services/web/instances/web-1/heartbeat", null);
        await server.AdvanceAsync(TimeSpan.FromSeconds(2));

        var critical = (await server.GetJsonAsync("/v1/services/web/instances?health=critical")).GetProperty("instances");
        var passing = (await server.GetJsonAsync("/v1/services/web/instances?health=passing,suspect")).GetProperty("instances");

        Assert.Equal("web-2", Assert.Single(critical.EnumerateArray()).GetProperty("id").GetString());
        Assert.Equal("web-1", Assert.Single(passing.EnumerateArray()).GetProperty("id").GetString());
    }

    [Fact]
    public async Task Catalog_AfterChanges_RevisionMatchesStore()
    {
        await using var server = await ServerFixture.StartAsync();
        (await server.RegisterAsync("web", "web-1")).Dispose();
        (await server.RegisterAsync("api", "api-1")).Dispose();

        var catalog = await server.GetJsonAsync("/v1/catalog");

        Assert.Equal(await server.Store.GetRevisionAsync(), catalog.GetProperty("revision").GetInt64());
        Assert.Equal(2, catalog.GetProperty("instances").GetArrayLength());
    }

    [Fact]
    public async Task Metrics_AfterRegistration_ExposesRegistryGauges()
    {
        await using var server = await ServerFixture.StartAsync();
        (await server.RegisterAsync("web", "web-1")).Dispose();
        await server.Http.PostAsync("/v1/services/web/instances/web-1/heartbeat", null);

        var text = await server.Http.GetStringAsync("/metrics");

        Assert.Contains("halo_registry_instances{", text, StringComparison.Ordinal);
        Assert.Contains("health=\"passing\"", text, StringComparison.Ordinal);
        Assert.Contains("halo_registry_heartbeats", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Probes_RunningServer_HealthyAndReady()
    {
        await using var server = await ServerFixture.StartAsync();

        using var healthz = await server.Http.GetAsync("/healthz");
        using var readyz = await server.Http.GetAsync("/readyz");

        Assert.Equal(HttpStatusCode.OK, healthz.StatusCode);
        Assert.Equal(HttpStatusCode.OK, readyz.StatusCode);
    }
}
