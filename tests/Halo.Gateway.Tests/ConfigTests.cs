using Halo.Core.Balancing;
using Halo.Gateway.Configuration;

namespace Halo.Gateway.Tests;

public class ConfigTests
{
    private const string Valid = """
        listen: 127.0.0.1:7481
        routes:
          - host: api.example.com
            path: /v1
            cluster: api
          - cluster: web
        clusters:
          web:
            service: web
            policy: weighted-round-robin
          api:
            policy: consistent-hash
            hash: { on: header, name: X-User, loadFactor: 1.5 }
            pools:
              - service: api
                zone: a
              - destinations:
                  - url: http://127.0.0.1:9001
                    weight: 5
            health:
              active: { path: /ready, interval: 2s, timeout: 300ms, rise: 3, fall: 1 }
              passive: { consecutiveFailures: 5, baseEjectionTime: 1s, maxEjectionTime: 10s, maxEjectionPercent: 30 }
              panicThreshold: 40
              slowStart: 15s
            retry: { attempts: 2, perTryTimeout: 250ms, budgetRatio: 0.1, onStatus: [503] }
        """;

    [Fact]
    public void Parse_ValidYaml_ProducesSettings()
    {
        var s = GatewayConfigLoader.Parse(Valid);

        Assert.Equal(7481, s.Listen.Port);
        Assert.Equal(new Uri("http://127.0.0.1:7400"), s.Servers[0]);
        var api = s.Clusters["api"];
        Assert.Equal(PolicyKind.ConsistentHash, api.Policy);
        Assert.Equal(HashSource.Header, api.HashOn);
        Assert.Equal(2, api.Pools.Count);
        Assert.Equal("a", api.Pools[0].Zone);
        Assert.Equal(5, api.Pools[1].Destinations[0].Weight);
        Assert.Equal(TimeSpan.FromMilliseconds(300), api.Active!.Timeout);
        Assert.Equal(30, api.Outlier.MaxEjectionPercent);
        Assert.Equal(TimeSpan.FromSeconds(15), api.SlowStart);
        Assert.Equal(TimeSpan.FromMilliseconds(250), api.Retry.PerTryTimeout);
        Assert.Equal([503], api.Retry.OnStatus);
        Assert.True(s.UsesRegistry);
    }

    [Fact]
    public void Parse_Json_Accepted()
    {
        var s = GatewayConfigLoader.Parse("""{"routes":[{"cluster":"c"}],"clusters":{"c":{"destinations":[{"url":"http://127.0.0.1:1234"}]}}}""");

        Assert.Equal(PolicyKind.PeakEwma, s.Clusters["c"].Policy);
        Assert.False(s.UsesRegistry);
    }

    [Fact]
    public void Parse_CommandLineOverrides_WinOverFile()
    {
        var s = GatewayConfigLoader.Parse(Valid, "127.0.0.1:0", "http://127.0.0.1:9999");

        Assert.Equal(0, s.Listen.Port);
        Assert.Equal(9999, s.Servers[0].Port);
    }

    [Theory]
    [InlineData("retry: { perTryTimeout: soon }", "clusters.c.retry.perTryTimeout")]
    [InlineData("retry: { perTryTimeout: 0s }", "clusters.c.retry.perTryTimeout")]
    [InlineData("retry: { attempts: 0 }", "clusters.c.retry.attempts")]
    [InlineData("retry: { onStatus: [404] }", "clusters.c.retry.onStatus")]
    [InlineData("policy: fastest", "clusters.c.policy")]
    [InlineData("hash: { on: header }", "clusters.c.hash.name")]
    [InlineData("hash: { loadFactor: 0.5 }", "clusters.c.hash.loadFactor")]
    [InlineData("health: { panicThreshold: 101 }", "clusters.c.health.panicThreshold")]
    [InlineData("health: { passive: { baseEjectionTime: 10s, maxEjectionTime: 1s } }", "clusters.c.health.passive.maxEjectionTime")]
    [InlineData("health: { active: { path: ready } }", "clusters.c.health.active.path")]
    [InlineData("connectTimeout: -1s", "clusters.c.connectTimeout")]
    [InlineData("retry: { adaptiveTimeout: { multiplier: 0.5 } }", "clusters.c.retry.adaptiveTimeout.multiplier")]
    [InlineData("retry: { perTryTimeout: 100ms, adaptiveTimeout: { min: 200ms } }", "clusters.c.retry.adaptiveTimeout.min")]
    public void Parse_BadClusterField_NamesTheField(string line, string field)
    {
        var yaml = $"routes: [{{cluster: c}}]\nclusters:\n  c:\n    destinations: [{{url: 'http://127.0.0.1:1'}}]\n    {line}\n";

        var ex = Assert.Throws<GatewayConfigException>(() => GatewayConfigLoader.Parse(yaml));

        Assert.Equal(field, ex.Field);
        Assert.Contains(field, ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("routes: [{cluster: nope}]\nclusters: {c: {service: web}}", "routes[0].cluster")]
    [InlineData("routes: [{cluster: c, path: api}]\nclusters: {c: {service: web}}", "routes[0].path")]
    [InlineData("clusters: {c: {service: web}}", "routes")]
    [InlineData("routes: [{cluster: c}]", "clusters")]
    [InlineData("routes: [{cluster: c}]\nclusters: {c: {}}", "clusters.c.pools")]
    [InlineData("routes: [{cluster: c}]\nclusters: {c: {destinations: [{url: 'ftp://x'}]}}", "clusters.c.destinations[0].url")]
    [InlineData("routes: [{cluster: c}]\nclusters: {c: {destinations: [{url: 'http://127.0.0.1:1', weight: 0}]}}", "clusters.c.destinations[0].weight")]
    [InlineData("routes: [{cluster: c}]\nclusters: {c: {service: 'bad name'}}", "clusters.c.service")]
    [InlineData("routes: [{cluster: c}]\nclusters: {c: {pools: [{service: a, destinations: [{url: 'http://127.0.0.1:1'}]}]}}", "clusters.c.pools[0]")]
    [InlineData("listen: nowhere\nroutes: [{cluster: c}]\nclusters: {c: {service: web}}", "listen")]
    [InlineData("server: 'ftp://x'\nroutes: [{cluster: c}]\nclusters: {c: {service: web}}", "server")]
    [InlineData("feedRetry: 0s\nroutes: [{cluster: c}]\nclusters: {c: {service: web}}", "feedRetry")]
    public void Parse_BadTopLevelField_NamesTheField(string yaml, string field)
    {
        var ex = Assert.Throws<GatewayConfigException>(() => GatewayConfigLoader.Parse(yaml));

        Assert.Equal(field, ex.Field);
    }

    [Fact]
    public void Parse_UnknownField_NamesItAndLine()
    {
        var ex = Assert.Throws<GatewayConfigException>(() => GatewayConfigLoader.Parse("routes: [{cluster: c}]\nclusters:\n  c:\n    servise: web\n"));

        Assert.Contains("servise", ex.Message, StringComparison.Ordinal);
        Assert.Contains("line 4", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadFile_DeployConfig_IsValid()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Halo.slnx")))
        {
            dir = dir.Parent;
        }

        var path = Path.Combine(dir!.FullName, "deploy", "gateway.yaml");
        Assert.SkipUnless(File.Exists(path), "no deploy/gateway.yaml on this branch");

        var s = GatewayConfigLoader.LoadFile(path, null, null);

        Assert.Equal("web", s.Clusters["web"].Pools[0].Service);
        Assert.Equal(TimeSpan.FromSeconds(1), s.FeedRetry);
    }

    [Theory]
    [InlineData("250ms", 250)]
    [InlineData("3s", 3000)]
    [InlineData("1m", 60000)]
    [InlineData("1.5", 1500)]
    public void TryParse_Durations_Parsed(string text, int ms)
    {
        Assert.True(Halo.Core.Durations.TryParseOrSeconds(text, out var value));
        Assert.Equal(TimeSpan.FromMilliseconds(ms), value);
    }
}
