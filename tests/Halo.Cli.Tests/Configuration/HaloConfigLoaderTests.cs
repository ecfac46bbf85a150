using Halo.Cli.Configuration;
using Halo.Cli.Tests.Model;
using Halo.Core.Detection;

namespace Halo.Cli.Tests.Configuration;

public sealed class HaloConfigLoaderTests
{
    private const string Sample = """
        server:
          listen: 127.0.0.1:7400
          data: ./.halo/data
          detector: { kind: fixed, heartbeatInterval: 1s, missedHeartbeats: 3, downAfter: 2, upAfter: 2, evaluationInterval: 250ms }
        services:
          web: { detector: { kind: phiAccrual, heartbeatInterval: 1s, phiThreshold: 8, minStdDeviation: 100ms, acceptablePause: 500ms, sampleWindow: 100 } }
        groups:
          cache: { leaseTtl: 2s, renewInterval: 500ms, controllerInterval: 100ms, maxLagBytes: 1048576, promoteTimeout: 2s, rerouteBound: 200ms }
        gateway:
          feedRetry: 1s
        """;

    [Fact]
    public void Load_Sample_MapsEveryField()
    {
        var loaded = HaloConfigLoader.Load(Sample, isJson: false);
        var config = loaded.Config;
        Assert.Equal(DetectorKind.Fixed, config.Server.Detector.Kind);
        Assert.Equal(TimeSpan.FromMilliseconds(250), config.Server.Detector.EvaluationInterval);
        var web = config.Services["web"].Detector;
        Assert.Equal(DetectorKind.PhiAccrual, web.Kind);
        Assert.Equal(TimeSpan.FromMilliseconds(500), web.AcceptablePause);
        Assert.Equal(2, web.DownAfter);
        Assert.Equal(TimeSpan.FromSeconds(2), config.Groups["cache"].LeaseTtl);
        Assert.Equal(1_048_576, config.Groups["cache"].MaxLagBytes);
        Assert.Equal(TimeSpan.FromSeconds(1), config.Gateway.FeedRetry);
        Assert.Equal("groups.cache.leaseTtl (line 8)", loaded.Describe("groups.cache.leaseTtl"));
    }

    [Fact]
    public void Load_Json_SameAsYaml()
    {
        const string json = """
            { "groups": { "cache": { "leaseTtl": "3s", "renewInterval": "1s" } },
              "server": { "detector": { "kind": "phiAccrual", "phiThreshold": 10 } } }
            """;
        var config = HaloConfigLoader.Load(json, isJson: true).Config;
        Assert.Equal(TimeSpan.FromSeconds(3), config.Groups["cache"].LeaseTtl);
        Assert.Equal(10, config.Server.Detector.PhiThreshold);
    }

    [Theory]
    [InlineData("groups:\n  cache:\n    leaseTtl: 1s\n    renewInterval: 2s\n", 4, "groups.cache.renewInterval", "must be shorter than leaseTtl")]
    [InlineData("groups:\n  cache: { leaseTtl: 10ms }\n", 2, "groups.cache.leaseTtl", "out of range")]
    [InlineData("groups:\n  cache: { promoteTimeout: 3x }\n", 2, "groups.cache.promoteTimeout", "not a duration")]
    [InlineData("groups:\n  cache: { maxLagBytes: -1 }\n", 2, "groups.cache.maxLagBytes", "out of range")]
    [InlineData("groups:\n  cache: { leaseTTL: 2s }\n", 2, "groups.cache.leaseTTL", "unknown field")]
    [InlineData("server:\n  detector:\n    kind: gossip\n", 3, "server.detector.kind", "unknown detector kind")]
    [InlineData("server:\n  detector:\n    kind: phiAccrual\n    phiThreshold: 20\n", 4, "server.detector.phiThreshold", "between 1 and 16")]
    [InlineData("server:\n  detector:\n    missedHeartbeats: 0\n", 3, "server.detector.missedHeartbeats", "between 1 and 100")]
    [InlineData("server:\n  detector:\n    heartbeatInterval: -1s\n", 3, "server.detector.heartbeatInterval", "negative")]
    [InlineData("services:\n  web:\n    detector: { evaluationInterval: 2m }\n", 3, "services.web.detector.evaluationInterval", "between")]
    [InlineData("server:\n  listen: localhost\n", 2, "server.listen", "host:port")]
    [InlineData("gateway:\n  feedRetry: 0s\n", 2, "gateway.feedRetry", "out of range")]
    [InlineData("detector: {}\n", 1, "detector", "unknown field")]
    public void Invoke_BadConfig_ExitsTwoNamingLineAndField(string yaml, int line, string field, string message)
    {
        var (exit, _, error) = CommandRunner.RunOn(yaml, ".yaml", "--from-config");
        Assert.Equal(2, exit);
        Assert.Contains($":{line}: {field}: ", error);
        Assert.Contains(message, error);
    }

    [Fact]
    public void Load_EtcdStore_ListOrStringNormalized()
    {
        var fromList = HaloConfigLoader.Load("server:\n  store: etcd\n  etcd: [http://10.0.0.1:2379, 'http://10.0.0.2:2379/']\n  memberTtl: 8s\n", isJson: false).Config.Server;
        var fromString = HaloConfigLoader.Load("server:\n  etcd: http://10.0.0.1:2379,http://10.0.0.2:2379\n", isJson: false).Config.Server;

        Assert.Equal(Halo.Core.Configuration.StoreKind.Etcd, fromList.Store);
        Assert.Equal("http://10.0.0.1:2379,http://10.0.0.2:2379", fromList.Etcd);
        Assert.Equal(fromList.Etcd, fromString.Etcd);
        Assert.Equal(Halo.Core.Configuration.StoreKind.Etcd, fromString.Store);
        Assert.Equal(TimeSpan.FromSeconds(8), fromList.MemberTtl);
    }

    [Theory]
    [InlineData("server:\n  store: etcd\n", "server.store", 2)]
    [InlineData("server:\n  store: zookeeper\n", "server.store", 2)]
    [InlineData("server:\n  store: etcd\n  etcd: http://a\n", "server.etcd", 3)]
    [InlineData("server:\n  memberTtl: 1s\n", "server.memberTtl", 2)]
    public void Load_BadStoreSettings_NamesFieldAndLine(string yaml, string field, int line)
    {
        var error = Assert.Throws<InputException>(() => HaloConfigLoader.Load(yaml, isJson: false));

        Assert.Contains(field, error.Message, StringComparison.Ordinal);
        Assert.Contains($"line {line}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_ServerLimits_Read()
    {
        var limits = HaloConfigLoader.Load("server:\n  limits:\n    maxStreamsPerToken: 50\n    requestsPerSecondPerToken: 2000\n    requestHeadersTimeout: 5s\n    maxServices: 300\n    maxInstancesPerService: 700\n", isJson: false)
            .Config.Server.Limits;

        Assert.Equal(50, limits.MaxStreamsPerToken);
        Assert.Equal(2000, limits.RequestsPerSecondPerToken);
        Assert.Equal(TimeSpan.FromSeconds(5), limits.RequestHeadersTimeout);
        Assert.Equal(300, limits.MaxServices);
        Assert.Equal(700, limits.MaxInstancesPerService);
        Assert.Equal(new Halo.Core.Configuration.LimitOptions().MaxStreams, limits.MaxStreams);
    }

    /// <summary>A bad value or an unknown key inside a server section (limits, checks, registrations, tls): the error names the field.</summary>
    [Theory]
    [InlineData("maxStreamsPerToken: 0", "server.limits.maxStreamsPerToken")]
    [InlineData("maxStreamsPerToken: 9000", "server.limits.maxStreamsPerToken")]
    [InlineData("maxStreams: -1", "server.limits.maxStreams")]
    [InlineData("maxStreams: 20000", "server.limits.maxStreams")]
    [InlineData("requestsPerSecondPerToken: 0", "server.limits.requestsPerSecondPerToken")]
    [InlineData("requestsPerSecondPerSource: lots", "server.limits.requestsPerSecondPerSource")]
    [InlineData("maxConnections: 3", "server.limits.maxConnections")]
    [InlineData("maxRequestHeaderCount: 2", "server.limits.maxRequestHeaderCount")]
    [InlineData("maxRequestHeadersBytes: 100", "server.limits.maxRequestHeadersBytes")]
    [InlineData("requestHeadersTimeout: 0s", "server.limits.requestHeadersTimeout")]
    [InlineData("keepAliveTimeout: 2h", "server.limits.keepAliveTimeout")]
    [InlineData("maxServices: 0", "server.limits.maxServices")]
    [InlineData("maxInstancesPerService: 5000000", "server.limits.maxInstancesPerService")]
    [InlineData("maxWatches: 5", "server.limits.maxWatches")]
    [InlineData("allowedNetworks: [10.0.0.0/8, 10.0.0.0/40]", "server.checks.allowedNetworks")]
    [InlineData("allowedNetworks: metadata.internal", "server.checks.allowedNetworks")]
    [InlineData("allowedNetworks: [[10.0.0.0/8]]", "server.checks.allowedNetworks")]
    [InlineData("allowed: 10.0.0.0/8", "server.checks.allowed")]
    [InlineData("ownAddressOnly: maybe", "server.registrations.ownAddressOnly")]
    [InlineData("ownAddressOnly: [true]", "server.registrations.ownAddressOnly")]
    [InlineData("ownAddress: true", "server.registrations.ownAddress")]
    [InlineData("key: k.pem", "server.tls.certificate")]
    [InlineData("certificate: c.pem", "server.tls.key")]
    [InlineData("certificate: c.pem\n    key: k.pem\n    clientCertificates: sometimes", "server.tls.clientCertificates")]
    [InlineData("certificate: c.pem\n    key: k.pem\n    cert: x.pem", "server.tls.cert")]
    public void Load_BadServerSectionSetting_NamesField(string lines, string field)
    {
        var section = field.Split('.')[1];

        var error = Assert.Throws<InputException>(() => HaloConfigLoader.Load($"server:\n  {section}:\n    {lines}\n", isJson: false));

        Assert.Contains(field, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("allowedNetworks: [10.0.0.0/8, 'fd00::/8', 192.168.1.7]")]
    [InlineData("allowedNetworks: 10.0.0.0/8, fd00::/8, 192.168.1.7")]
    public void Load_CheckNetworks_Read(string line)
    {
        var networks = HaloConfigLoader.Load($"server:\n  checks:\n    {line}\n", isJson: false).Config.Server.CheckNetworks;

        Assert.Equal(["10.0.0.0/8", "fd00::/8", "192.168.1.7"], networks);
        Assert.Null(HaloConfigLoader.Load("server:\n  listen: 127.0.0.1:7400\n", isJson: false).Config.Server.CheckNetworks);
    }

    [Fact]
    public void Load_OwnAddressOnly_Read()
    {
        Assert.True(HaloConfigLoader.Load("server:\n  registrations:\n    ownAddressOnly: true\n", isJson: false).Config.Server.OwnAddressOnly);
        Assert.False(HaloConfigLoader.Load("server:\n  registrations:\n    ownAddressOnly: false\n", isJson: false).Config.Server.OwnAddressOnly);
        Assert.False(HaloConfigLoader.Load("server:\n  listen: 127.0.0.1:7400\n", isJson: false).Config.Server.OwnAddressOnly);
    }

    [Fact]
    public void Load_ServerTls_ReadsPathsAndMode()
    {
        var tls = HaloConfigLoader.Load("server:\n  tls:\n    certificate: s.pem\n    key: s-key.pem\n    clientCertificates: require\n    clientCa: ca.pem\n", isJson: false)
            .Config.Server.Tls;

        Assert.Equal(new Halo.Core.Configuration.TlsConfig { Certificate = "s.pem", Key = "s-key.pem", ClientCertificates = "require", ClientCa = "ca.pem" }, tls);
    }
}
