using Halo.Core.Balancing;
using Halo.Gateway.Configuration;
using Halo.Core.Detection;
using Halo.Core.Registry;
using Halo.Gateway.Feed;
using Halo.Gateway.Routing;
using Halo.Gateway.Telemetry;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Halo.Gateway.Tests;

public class HealthModelTests
{
    private readonly FakeTimeProvider _time = new();
    private readonly TestMeterFactory _meters = new();

    private (ClusterRuntime Cluster, RoutingTableBuilder Builder, GatewayMetrics Metrics) Cluster(string clusterYaml)
    {
        var s = GatewayConfigLoader.Parse("routes: [{cluster: c}]\nclusters:\n  c:\n" + clusterYaml);
        var metrics = new GatewayMetrics(_meters);
        var builder = new RoutingTableBuilder(s, _time, c => new ClusterRuntime(c, _time, metrics, NullLogger.Instance));
        builder.Build([], 0);
        return (builder.Clusters["c"], builder, metrics);
    }

    private static string Static(int n, string extra = "") =>
        "    destinations: [" + string.Join(", ", Enumerable.Range(1, n).Select(i => $"{{url: 'http://127.0.0.1:{9000 + i}', name: d{i}}}")) + "]\n" + extra;

    private static HashSet<string> Picks(ClusterRuntime c, int count = 200)
    {
        var random = new Random(1);
        return Enumerable.Range(0, count).Select(_ => c.Pick(new BalancingRequest(null, random), null)?.Name ?? "none").ToHashSet();
    }

    [Fact]
    public void RecordOutcome_ConsecutiveFailures_EjectsAndCountsMetric()
    {
        var (c, _, _) = Cluster(Static(3, "    health: { passive: { consecutiveFailures: 3 } }\n"));
        using var ejections = new MetricCollector<long>(_meters, GatewayMetrics.MeterName, "halo.gateway.ejections");
        var d1 = c.AllMembers.First();

        for (var i = 0; i < 3; i++)
        {
            c.RecordOutcome(d1, TimeSpan.FromMilliseconds(1), FailureKind.Connect);
        }

        Assert.DoesNotContain("d1", Picks(c));
        Assert.Equal(1, ejections.GetMeasurementSnapshot().EvaluateAsCounter());
    }

    [Fact]
    public void Refresh_EjectionExpires_DestinationReturns()
    {
        var (c, _, _) = Cluster(Static(3, "    policy: round-robin\n    health: { passive: { consecutiveFailures: 1, baseEjectionTime: 2s } }\n"));
        var d1 = c.AllMembers.First();
        c.RecordOutcome(d1, TimeSpan.FromMilliseconds(1), FailureKind.Timeout);
        Assert.DoesNotContain("d1", Picks(c));

        _time.Advance(TimeSpan.FromSeconds(2.1));
        c.Refresh();

        Assert.Contains("d1", Picks(c));
    }

    [Fact]
    public void RecordOutcome_MaxEjectionShare_CapsEjections()
    {
        var (c, _, _) = Cluster(Static(4, "    health: { passive: { consecutiveFailures: 1, maxEjectionPercent: 50 } }\n"));

        foreach (var d in c.AllMembers)
        {
            c.RecordOutcome(d, TimeSpan.FromMilliseconds(1), FailureKind.Connect);
        }

        Assert.Equal(2, c.AllMembers.Count(d => d.Outlier.IsEjected));
    }

    [Fact]
    public void Refresh_RegistryCriticalAndDraining_Excluded()
    {
        var (c, builder, _) = Cluster("    service: web\n");
        builder.Build(
        [
            new InstanceRecord { Service = "web", Id = "a", Address = "127.0.0.1", Port = 1 },
            new InstanceRecord { Service = "web", Id = "b", Address = "127.0.0.1", Port = 2, Health = HealthStatus.Critical },
            new InstanceRecord { Service = "web", Id = "c", Address = "127.0.0.1", Port = 3, Draining = true },
            new InstanceRecord { Service = "web", Id = "d", Address = "127.0.0.1", Port = 4, Health = HealthStatus.Suspect },
        ], 7);

        Assert.Equal(["web/a", "web/d"], Picks(c).Order());
        Assert.Equal(7, c.Snapshot.Revision);
    }

    [Fact]
    public void Refresh_BelowPanicThreshold_IgnoresHealthButNotDraining()
    {
        var (c, builder, _) = Cluster("    service: web\n    health: { panicThreshold: 50 }\n");
        builder.Build(
        [
            new InstanceRecord { Service = "web", Id = "a", Address = "127.0.0.1", Port = 1 },
            new InstanceRecord { Service = "web", Id = "b", Address = "127.0.0.1", Port = 2, Health = HealthStatus.Critical },
            new InstanceRecord { Service = "web", Id = "c", Address = "127.0.0.1", Port = 3, Health = HealthStatus.Critical },
            new InstanceRecord { Service = "web", Id = "d", Address = "127.0.0.1", Port = 4, Draining = true },
        ], 1);

        Assert.True(c.Snapshot.Panic);
        Assert.Equal(["web/a", "web/b", "web/c"], Picks(c).Order());
    }

    [Fact]
    public void Pick_PrimaryPoolDegrades_BackupTakesProportionalShare()
    {
        var (c, _, metrics) = Cluster("""
                pools:
                  - destinations: [{url: 'http://127.0.0.1:9001', name: p1}, {url: 'http://127.0.0.1:9002', name: p2}]
                  - destinations: [{url: 'http://127.0.0.1:9101', name: b1}]
                health: { passive: { consecutiveFailures: 1, maxEjectionPercent: 100 }, panicThreshold: 0 }
            """ + "\n");
        var random = new Random(3);
        int Backup() => Enumerable.Range(0, 2000).Count(_ => c.Pick(new BalancingRequest(null, random), null)!.Name == "b1");

        Assert.Equal(0, Backup());

        // Half the primary pool ejected: health 0.5 × 1.4 = 70% stays, 30% spills.
        c.RecordOutcome(c.AllMembers.First(), TimeSpan.Zero, FailureKind.Connect);
        Assert.InRange(Backup(), 500, 700);

        c.RecordOutcome(c.AllMembers.Skip(1).First(), TimeSpan.Zero, FailureKind.Connect);
        Assert.Equal(2000, Backup());
    }

    [Fact]
    public void Pick_AfterTried_ChoosesAnotherDestination()
    {
        var (c, _, _) = Cluster(Static(3));
        var random = new Random(1);
        var first = c.Pick(new BalancingRequest(null, random), null)!;
        var second = c.Pick(new BalancingRequest(null, random), [first])!;
        var third = c.Pick(new BalancingRequest(null, random), [first, second])!;

        Assert.Equal(3, new[] { first, second, third }.Distinct().Count());
        Assert.Null(c.Pick(new BalancingRequest(null, random), [first, second, third]));
    }

    [Fact]
    public void Refresh_SlowStart_RecoveredDestinationRampsUp()
    {
        var (c, _, _) = Cluster(Static(2, "    health: { slowStart: 10s, passive: { consecutiveFailures: 1, baseEjectionTime: 1s } }\n"));
        _time.Advance(TimeSpan.FromSeconds(20));
        c.Refresh();
        var d1 = c.AllMembers.First();
        Assert.Equal(1, d1.Balancing.WeightFactor);

        c.RecordOutcome(d1, TimeSpan.Zero, FailureKind.Connect);
        _time.Advance(TimeSpan.FromSeconds(1.1));
        c.Refresh();
        Assert.Equal(SlowStart.MinFactor, d1.Balancing.WeightFactor, 3);

        _time.Advance(TimeSpan.FromSeconds(5));
        c.Refresh();
        Assert.Equal(0.5, d1.Balancing.WeightFactor, 3);
    }

    [Fact]
    public void Build_FeedUpdate_KeepsDestinationStateAcrossSwaps()
    {
        var (c, builder, _) = Cluster("    service: web\n    health: { passive: { consecutiveFailures: 1 } }\n");
        InstanceRecord[] instances = [new() { Service = "web", Id = "a", Address = "127.0.0.1", Port = 1 }, new() { Service = "web", Id = "b", Address = "127.0.0.1", Port = 2 }];
        builder.Build(instances, 1);
        c.RecordOutcome(c.AllMembers.First(), TimeSpan.Zero, FailureKind.Connect);

        builder.Build([.. instances, new() { Service = "web", Id = "c", Address = "127.0.0.1", Port = 3 }], 2);

        Assert.True(c.AllMembers.First(d => d.Name == "web/a").Outlier.IsEjected);
    }

    [Fact]
    public void TryConfig_AdaptiveTimeout_FollowsLatencyWithinBounds()
    {
        var (c, _, _) = Cluster(Static(1, "    retry: { perTryTimeout: 1s, adaptiveTimeout: { multiplier: 5, min: 50ms } }\n"));
        var d = c.AllMembers.Single();
        var config = new Yarp.ReverseProxy.Forwarder.ForwarderRequestConfig();

        Assert.Equal(TimeSpan.FromMilliseconds(50), Proxy.ProxyMiddleware.TryConfig(config, c.Settings.Retry, d).ActivityTimeout);
        d.Balancing.Latency.Observe(TimeSpan.FromMilliseconds(40), failed: false);
        Assert.Equal(200, Proxy.ProxyMiddleware.TryConfig(config, c.Settings.Retry, d).ActivityTimeout!.Value.TotalMilliseconds, 1);
        d.Balancing.Latency.Observe(TimeSpan.FromMilliseconds(400), failed: false);
        Assert.Equal(TimeSpan.FromSeconds(1), Proxy.ProxyMiddleware.TryConfig(config, c.Settings.Retry, d).ActivityTimeout);
    }

    [Theory]
    [InlineData(Yarp.ReverseProxy.Forwarder.ForwarderError.None, false, 200, FailureKind.None)]
    [InlineData(Yarp.ReverseProxy.Forwarder.ForwarderError.None, false, 503, FailureKind.ServerError)]
    [InlineData(Yarp.ReverseProxy.Forwarder.ForwarderError.None, true, 503, FailureKind.ServerError)]
    [InlineData(Yarp.ReverseProxy.Forwarder.ForwarderError.Request, false, 502, FailureKind.Connect)]
    [InlineData(Yarp.ReverseProxy.Forwarder.ForwarderError.RequestTimedOut, false, 504, FailureKind.Timeout)]
    [InlineData(Yarp.ReverseProxy.Forwarder.ForwarderError.RequestCanceled, false, 502, FailureKind.None)]
    [InlineData(Yarp.ReverseProxy.Forwarder.ForwarderError.RequestCreation, false, 502, FailureKind.None)]
    public void Classify_ForwarderOutcome_MapsToFailureKind(Yarp.ReverseProxy.Forwarder.ForwarderError error, bool intercepted, int status, FailureKind expected)
    {
        Assert.Equal(expected, Proxy.ProxyMiddleware.Classify(error, intercepted, status));
    }
}
