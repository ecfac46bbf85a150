using Halo.Gateway.Configuration;
using Halo.Gateway.Routing;
using Halo.Gateway.Telemetry;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Halo.Gateway.Tests;

public class RoutingTableTests
{
    private static RoutingTable Table()
    {
        var s = GatewayConfigLoader.Parse("""
            routes:
              - { cluster: any }
              - { path: /api, cluster: api }
              - { host: admin.local, path: /, cluster: admin }
            clusters:
              any: { destinations: [{ url: 'http://127.0.0.1:1' }] }
              api: { destinations: [{ url: 'http://127.0.0.1:2' }] }
              admin: { destinations: [{ url: 'http://127.0.0.1:3' }] }
            """);
        var metrics = new GatewayMetrics(new TestMeterFactory());
        var builder = new RoutingTableBuilder(s, TimeProvider.System, c => new ClusterRuntime(c, TimeProvider.System, metrics, NullLogger.Instance));
        return builder.Build([], 0);
    }

    [Theory]
    [InlineData("x.local", "/", "any")]
    [InlineData("x.local", "/api", "api")]
    [InlineData("x.local", "/api/users", "api")]
    [InlineData("x.local", "/apix", "any")]
    [InlineData("admin.local:8080", "/api", "admin")]
    [InlineData("ADMIN.local", "/", "admin")]
    public void Match_HostAndPath_MostSpecificWins(string host, string path, string cluster)
    {
        Assert.Equal(cluster, Table().Match(host, path)!.Cluster.Name);
    }
}
