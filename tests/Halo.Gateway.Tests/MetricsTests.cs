using System.Diagnostics.Metrics;
using Halo.Gateway.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Halo.Gateway.Tests;

public class MetricsTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Retry_DeadDestination_CountsRetryAndRequestByStatusClass(bool fastPath)
    {
        await using var live = await InProcessBackend.StartAsync("live");
        var dead = await InProcessBackend.StartAsync("dead");
        await dead.DisposeAsync();
        await using var gw = await InProcessGateway.StartAsync($$"""
            routes: [{cluster: c}]
            clusters:
              c:
                policy: round-robin
                destinations: [{url: 'http://127.0.0.1:{{dead.Port}}', name: dead}, {url: 'http://127.0.0.1:{{live.Port}}', name: live}]
                health: { passive: { consecutiveFailures: 100 } }
            """, fastPath: fastPath);
        var meters = gw.Services.GetRequiredService<IMeterFactory>();
        using var retries = new MetricCollector<long>(meters, GatewayMetrics.MeterName, "halo.gateway.retries");
        using var requests = new MetricCollector<long>(meters, GatewayMetrics.MeterName, "halo.gateway.requests");

        for (var i = 0; i < 4; i++)
        {
            Assert.Equal("live", await gw.GetBackendAsync());
        }

        // Round robin advances once for the first try and once for the retry, so every request meets the dead one first.
        await Wait.UntilAsync(() => requests.GetMeasurementSnapshot().EvaluateAsCounter() == 4, TimeSpan.FromSeconds(10), "4 requests counted");
        Assert.Equal(4, retries.GetMeasurementSnapshot().EvaluateAsCounter());
        Assert.All(retries.GetMeasurementSnapshot(), m => Assert.Equal("Connect", m.Tags["reason"]));
        var served = requests.GetMeasurementSnapshot();
        Assert.Equal(4, served.EvaluateAsCounter());
        Assert.All(served, m => Assert.Equal(("live", "2xx"), ((string?)m.Tags["destination"], (string?)m.Tags["status_class"])));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task RetryBudget_Exhausted_CountedAndRequestNotRetried(bool fastPath)
    {
        await using var a = await InProcessBackend.StartAsync("a");
        await using var b = await InProcessBackend.StartAsync("b");
        await using var gw = await InProcessGateway.StartAsync($$"""
            routes: [{cluster: c}]
            clusters:
              c:
                policy: round-robin
                destinations: [{url: 'http://127.0.0.1:{{a.Port}}'}, {url: 'http://127.0.0.1:{{b.Port}}'}]
                retry: { budgetRatio: 0, minRetriesPerSecond: 0 }
            """, fastPath: fastPath);
        using var exhausted = new MetricCollector<long>(gw.Services.GetRequiredService<IMeterFactory>(), GatewayMetrics.MeterName, "halo.gateway.retry_budget.exhausted");

        using var response = await gw.Client.GetAsync("/status/503");

        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(1, a.Hits + b.Hits);
        // Recorded after the response is on its way to the client: wait (bounded) rather than race it.
        await Wait.UntilAsync(() => exhausted.GetMeasurementSnapshot().EvaluateAsCounter() == 1, TimeSpan.FromSeconds(10), "budget exhaustion to be counted");
    }
}
