using System.Net;
using Halo.Server.Registry;
using Microsoft.Extensions.DependencyInjection;

namespace Halo.Server.Tests.Monitoring;

/// <summary>/v1/availability over a real server's event history on a fake clock.</summary>
public sealed class AvailabilityApiTests
{
    [Fact]
    public async Task Availability_OneOfTwoDown_ServiceUpHalfTheInstanceTimeLost()
    {
        await using var server = await ServerFixture.StartAsync();
        (await server.RegisterAsync("web", "web-1", new { address = "127.0.0.1", port = 8080, ttl = "1s" })).Dispose();
        (await server.RegisterAsync("web", "web-2", new { address = "127.0.0.1", port = 8081, ttl = "1s" })).Dispose();
        var registry = server.App.Services.GetRequiredService<InstanceRegistry>();

        // web-2 keeps heartbeating for 60 s of fake time; web-1 falls silent at once and goes critical within seconds.
        for (var i = 0; i < 600; i++)
        {
            registry.Heartbeat("web", "web-2");
            await server.AdvanceAsync(TimeSpan.FromMilliseconds(100));
        }

        var body = await server.GetJsonAsync("/v1/availability?window=1h,1d");
        var web = body.GetProperty("services").EnumerateArray().Single(s => s.GetProperty("name").GetString() == "web");
        var hour = web.GetProperty("windows").GetProperty("1h");

        // The service was never down (web-2 served throughout): observed 60 s, down 0.
        Assert.Equal(1.0, hour.GetProperty("availability").GetDouble());
        Assert.Equal(60, hour.GetProperty("observedSeconds").GetDouble(), 1);
        Assert.Equal(0, hour.GetProperty("outages").GetInt32());

        // web-1 lost (60 − t_critical) of its 60 s; the published critical time comes from the history itself.
        var down = (await server.GetJsonAsync("/v1/events?type=health")).GetProperty("events").EnumerateArray()
            .Single(e => e.GetProperty("to").GetString() == "critical").GetProperty("time").GetDateTimeOffset();
        var start = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var expected = (60 + (down - start).TotalSeconds) / 120;
        Assert.Equal(expected, hour.GetProperty("memberAvailability").GetDouble(), 6);
        Assert.Equal(["1h", "1d"], body.GetProperty("windows").EnumerateArray().Select(w => w.GetString()));
    }

    [Fact]
    public async Task Availability_AllInstancesDown_OutageCounted()
    {
        await using var server = await ServerFixture.StartAsync();
        (await server.RegisterAsync("solo", "solo-1", new { address = "127.0.0.1", port = 8080, ttl = "1s" })).Dispose();
        await server.AdvanceAsync(TimeSpan.FromSeconds(20));

        var solo = (await server.GetJsonAsync("/v1/availability?service=solo")).GetProperty("services")[0].GetProperty("windows").GetProperty("1h");

        Assert.Equal(1, solo.GetProperty("outages").GetInt32());
        Assert.True(solo.GetProperty("availability").GetDouble() is > 0 and < 0.5, solo.ToString());
        Assert.Equal(solo.GetProperty("downSeconds").GetDouble(), solo.GetProperty("longestOutageSeconds").GetDouble());
    }

    [Fact]
    public async Task Availability_ModelConfigured_PredictedBesideMeasured()
    {
        await using var server = await ServerFixture.StartAsync(new ServerOptions { PredictedAvailability = new Dictionary<string, double> { ["web"] = 0.9995 } });
        (await server.RegisterAsync("web", "web-1")).Dispose();
        (await server.RegisterAsync("api", "api-1")).Dispose();
        await server.AdvanceAsync(TimeSpan.FromSeconds(1));

        var services = (await server.GetJsonAsync("/v1/availability")).GetProperty("services").EnumerateArray().ToList();

        Assert.Equal(0.9995, services.Single(s => s.GetProperty("name").GetString() == "web").GetProperty("predicted").GetDouble());
        Assert.False(services.Single(s => s.GetProperty("name").GetString() == "api").TryGetProperty("predicted", out _));
    }

    [Theory]
    [InlineData("window=abc", "window")]
    [InlineData("window=10s", "window")]
    [InlineData("window=60d", "window")]
    [InlineData("window=1h,,1d", "window")]
    [InlineData("service=bad%20name", "service")]
    public async Task Availability_BadQuery_ProblemNamingField(string query, string field)
    {
        await using var server = await ServerFixture.StartAsync();

        using var response = await server.Http.GetAsync($"/v1/availability?{query}");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains($"\"{field}\"", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
