using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Halo.Server.Tests;

/// <summary>Caller-observed health flows back: gateways' failure reports are evidence the registry acts on.</summary>
public sealed class CallerReportTests
{
    private static object Report(long requests, long failures) => new
    {
        reporter = "gateway@127.0.0.1:7480", cluster = "web", window = "5s", requests, failures,
        connectFailures = 0, timeouts = failures, serverErrors = 0, ejected = true,
    };

    [Fact]
    public async Task Reports_EveryRequestFailsWhileHeartbeating_CriticalWithCallerCause()
    {
        await using var server = await ServerFixture.StartAsync();
        (await server.RegisterAsync("web", "web-1")).Dispose();

        using var accepted = await server.Http.PostAsJsonAsync("/v1/services/web/instances/web-1/reports", Report(50, 50));
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        using var _ = await server.Http.PostAsync("/v1/services/web/instances/web-1/heartbeat", null);
        await server.AdvanceAsync(TimeSpan.FromMilliseconds(300));

        var instance = (await server.GetJsonAsync("/v1/services/web/instances")).GetProperty("instances")[0];
        Assert.Equal("critical", instance.GetProperty("health").GetString());
        var e = (await server.GetJsonAsync("/v1/events?type=health")).GetProperty("events").EnumerateArray().Last();
        Assert.Contains("callers report 50 of 50", e.GetProperty("cause").GetString(), StringComparison.Ordinal);
        Assert.Equal(50, e.GetProperty("evidence").GetProperty("callerFailures").GetInt64());
    }

    [Fact]
    public async Task Reports_Expire_PassingAgainWhileHeartbeating()
    {
        await using var server = await ServerFixture.StartAsync();
        (await server.RegisterAsync("web", "web-1")).Dispose();
        (await server.Http.PostAsJsonAsync("/v1/services/web/instances/web-1/reports", Report(50, 50))).Dispose();
        await server.AdvanceAsync(TimeSpan.FromMilliseconds(300));

        for (var i = 0; i < 35; i++)
        {
            using var _ = await server.Http.PostAsync("/v1/services/web/instances/web-1/heartbeat", null);
            await server.AdvanceAsync(TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(250));
        }

        var instance = (await server.GetJsonAsync("/v1/services/web/instances")).GetProperty("instances")[0];
        Assert.Equal("passing", instance.GetProperty("health").GetString());
        var last = (await server.GetJsonAsync("/v1/events?type=health")).GetProperty("events").EnumerateArray().Last();
        Assert.Contains("no longer show failures", last.GetProperty("cause").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reports_FewFailures_StaysPassing()
    {
        await using var server = await ServerFixture.StartAsync();
        (await server.RegisterAsync("web", "web-1")).Dispose();

        (await server.Http.PostAsJsonAsync("/v1/services/web/instances/web-1/reports", Report(100, 3))).Dispose();
        using var _ = await server.Http.PostAsync("/v1/services/web/instances/web-1/heartbeat", null);
        await server.AdvanceAsync(TimeSpan.FromMilliseconds(300));

        Assert.Equal("passing", (await server.GetJsonAsync("/v1/services/web/instances")).GetProperty("instances")[0].GetProperty("health").GetString());
    }

    [Theory]
    [InlineData("{\"requests\":10,\"failures\":1}", "reporter")]
    [InlineData("{\"reporter\":\"gw\",\"failures\":1}", "requests")]
    [InlineData("{\"reporter\":\"gw\",\"requests\":10,\"failures\":11}", "failures")]
    [InlineData("{\"reporter\":\"gw\",\"requests\":10,\"failures\":5,\"timeouts\":6}", "timeouts")]
    [InlineData("{\"reporter\":\"gw\",\"requests\":10,\"failures\":5,\"window\":\"-1s\"}", "window")]
    [InlineData("{\"reporter\":\"gw\",\"requests\":-1,\"failures\":0}", "requests")]
    public async Task Reports_BadInput_ProblemNamingField(string body, string field)
    {
        await using var server = await ServerFixture.StartAsync();
        (await server.RegisterAsync("web", "web-1")).Dispose();

        using var response = await server.Http.PostAsync("/v1/services/web/instances/web-1/reports", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.ToString());
    }

    [Fact]
    public async Task Reports_UnknownInstance_NotFound()
    {
        await using var server = await ServerFixture.StartAsync();

        using var response = await server.Http.PostAsJsonAsync("/v1/services/web/instances/ghost/reports", Report(10, 10));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }
}
