// Every wait in these tests has its own bound; the test token adds nothing to fixed-length load runs.
#pragma warning disable xUnit1051

using System.Net.Http.Json;
using Halo.IntegrationTests.Failover;

namespace Halo.IntegrationTests.Gateway;

[CollectionDefinition(nameof(GatewayProcessCollection), DisableParallelization = true)]
public sealed class GatewayProcessCollection;

/// <summary>
/// The gateway hides single failures: real backend processes behind a real gateway process, under
/// closed-loop load from 16 concurrent clients. Runs alone (load tests on 2 cores disturb each other).
/// </summary>
[Collection(nameof(GatewayProcessCollection))]
public sealed class GatewayProcessTests(ITestOutputHelper output)
{
    private const int Workers = 16;
    private static readonly TimeSpan PerTry = TimeSpan.FromMilliseconds(300);

    private static string ThreeBackends(GatewayScenario s, string policy = "peak-ewma", string extra = "") => $$"""
        routes: [{cluster: web}]
        clusters:
          web:
            policy: {{policy}}
            destinations:
              - { url: '{{s.Url("b1")}}', name: b1 }
              - { url: '{{s.Url("b2")}}', name: b2 }
              - { url: '{{s.Url("b3")}}', name: b3 }
            connectTimeout: 500ms
            retry: { attempts: 3, perTryTimeout: {{PerTry.TotalMilliseconds}}ms }
            health:
              active: { path: /healthz, interval: 1s, fastInterval: 200ms, timeout: 250ms, rise: 2, fall: 2 }
              passive: { consecutiveFailures: 3, baseEjectionTime: 2s }
        {{extra}}
        """;

    [Fact]
    public async Task KillOneOfThree_DuringLoad_ZeroFailedRequests()
    {
        using var s = new GatewayScenario();
        await s.StartBackendsAsync("b1", "b2", "b3");
        await s.StartGatewayAsync(ThreeBackends(s));
        await s.WarmUpAsync();

        var run = await LoadRun.RunAsync(s.GatewayUrl, Workers, TimeSpan.FromSeconds(6), during: async _ =>
        {
            await Task.Delay(TimeSpan.FromSeconds(2));
            s.Backend("b2").KillHard();
        });

        output.WriteLine(run.ToString());
        output.WriteLine(s.Gateway.Output);
        Assert.True(run.Failures == 0, run.ToString());
        Assert.True(run.Requests > 1000, run.ToString());
    }

    [Fact]
    public async Task FreezeOneOfThree_DuringLoad_ZeroFailuresAndBoundedLatency()
    {
        using var s = new GatewayScenario();
        await s.StartBackendsAsync("b1", "b2", "b3");
        await s.StartGatewayAsync(ThreeBackends(s));
        await s.WarmUpAsync();

        var run = await LoadRun.RunAsync(s.GatewayUrl, Workers, TimeSpan.FromSeconds(8), during: async _ =>
        {
            await Task.Delay(TimeSpan.FromSeconds(2));
            s.Backend("b2").Freeze();
        });
        s.Backend("b2").Thaw();

        output.WriteLine(run.ToString());
        output.WriteLine(s.Gateway.Output);
        Assert.Equal(0, run.Failures);
        // A frozen backend accepts connections but never answers: each request loses at most one per-try timeout.
        Assert.True(run.Slowest < PerTry * 4, $"slowest {run.Slowest.TotalMilliseconds} ms; {run}");
        // After detection (probes: 2 × 200 ms fast interval + timeouts), throughput recovers.
        var before = run.Completed(0, 2) / 2.0;
        var after = run.Completed(5, 8) / 3.0;
        Assert.True(after > before * 0.5, $"throughput before {before}/s, after {after}/s; {run}");
    }

    [Fact]
    public async Task BackendTurnsSlow_PeakEwma_StopsSendingMostTraffic()
    {
        using var s = new GatewayScenario();
        await s.StartBackendsAsync("b1", "b2", "b3");
        await s.StartGatewayAsync(ThreeBackends(s));
        await s.WarmUpAsync();
        using (var http = new HttpClient())
        {
            // 250 ms: clearly slower than a healthy backend even on a 2-core machine at load 40, where the fast
            // ones answer in tens of milliseconds (at 100 ms the slow one's share crept to 6 % there).
            (await http.PostAsync(new Uri(s.Backends[2].Url, "/admin/delay?ms=250"), null)).EnsureSuccessStatusCode();
        }

        var run = await LoadRun.RunAsync(s.GatewayUrl, Workers, TimeSpan.FromSeconds(4));

        output.WriteLine(run.ToString());
        Assert.Equal(0, run.Failures);
        var slowShare = run.ByBackend.GetValueOrDefault("b3") / (double)run.Requests;
        Assert.True(slowShare < 0.05, $"slow backend got {slowShare:P1}; {run}");
    }

    [Fact]
    public async Task BackupPool_TakesTrafficOnlyAsPrimaryDegrades()
    {
        using var s = new GatewayScenario();
        await s.StartBackendsAsync("p1", "p2", "backup");
        await s.StartGatewayAsync($$"""
            routes: [{cluster: web}]
            clusters:
              web:
                policy: round-robin
                pools:
                  - destinations: [{ url: '{{s.Url("p1")}}', name: p1 }, { url: '{{s.Url("p2")}}', name: p2 }]
                  - destinations: [{ url: '{{s.Url("backup")}}', name: backup }]
                connectTimeout: 1s
                # Generous timeouts: on a loaded 2-core machine a slow answer must not eject a healthy
                # primary; this test is about probe-driven spill, not gray failures.
                retry: { perTryTimeout: 2s }
                health:
                  active: { interval: 500ms, fastInterval: 100ms, timeout: 1s, rise: 2, fall: 2 }
                  passive: { consecutiveFailures: 5 }
                  panicThreshold: 0
            """);
        await s.WarmUpAsync("p1", "p2");

        var healthy = await LoadRun.RunAsync(s.GatewayUrl, 8, TimeSpan.FromSeconds(2));
        // Each phase starts once the gateway's probes have called the killed primary down (fall 2 at the fast
        // interval, well under a second when idle); a fixed sleep was too short on a machine at load 30.
        s.Backend("p1").KillHard();
        await Eventually.UntilAsync(() => s.Gateway.Output.Contains("Destination p1 in cluster web is now unhealthy", StringComparison.Ordinal), TimeSpan.FromSeconds(20), "the probes to call p1 down");
        var half = await LoadRun.RunAsync(s.GatewayUrl, 8, TimeSpan.FromSeconds(3));
        s.Backend("p2").KillHard();
        await Eventually.UntilAsync(() => s.Gateway.Output.Contains("Destination p2 in cluster web is now unhealthy", StringComparison.Ordinal), TimeSpan.FromSeconds(20), "the probes to call p2 down");
        var none = await LoadRun.RunAsync(s.GatewayUrl, 8, TimeSpan.FromSeconds(2));

        output.WriteLine($"healthy: {healthy}\nhalf: {half}\nnone: {none}");
        output.WriteLine(s.Gateway.Output);
        Assert.Equal(0, healthy.ByBackend.GetValueOrDefault("backup"));
        // Half the primary healthy: 0.5 × overprovision 1.4 = 70% stays, 30% spills.
        var spill = half.ByBackend.GetValueOrDefault("backup") / (double)half.Requests;
        Assert.InRange(spill, 0.2, 0.4);
        Assert.Equal(none.Requests, none.ByBackend.GetValueOrDefault("backup"));
        Assert.Equal(0, healthy.Failures + half.Failures + none.Failures);
    }

    [Fact]
    public async Task BadConfig_FailsAtStartNamingTheField()
    {
        using var s = new GatewayScenario();
        var p = s.RunGatewayWithConfig("routes: [{cluster: web}]\nclusters:\n  web:\n    destinations: [{url: 'http://127.0.0.1:1'}]\n    retry: { perTryTimeout: forever }\n");

        var code = await p.WaitExitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(2, code);
        Assert.Contains("clusters.web.retry.perTryTimeout", p.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_AfterTraffic_ExposeGatewayInstruments()
    {
        using var s = new GatewayScenario();
        await s.StartBackendsAsync("b1", "b2", "b3");
        await s.StartGatewayAsync(ThreeBackends(s));
        await LoadRun.RunAsync(s.GatewayUrl, 4, TimeSpan.FromSeconds(1));
        using var http = new HttpClient();

        var text = await http.GetStringAsync(new Uri(s.GatewayUrl, "/metrics"));

        Assert.Contains("halo_gateway_requests_total", text, StringComparison.Ordinal);
        Assert.Contains("halo_gateway_request_duration_seconds_bucket", text, StringComparison.Ordinal);
        Assert.Contains("halo_gateway_routing_table_revision", text, StringComparison.Ordinal);
        Assert.Contains("halo_gateway_feed_connected", text, StringComparison.Ordinal);
    }
}
