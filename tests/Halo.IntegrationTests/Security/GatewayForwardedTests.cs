// Every wait in these tests has its own bound.
#pragma warning disable xUnit1051

using Halo.IntegrationTests.Gateway;

namespace Halo.IntegrationTests.Security;

/// <summary>
/// A real gateway in front of a real backend: what the backend is told in X-Forwarded-For/Proto/Host is the gateway's
/// own account of the connection, whatever the client claims, unless the client is a trusted proxy; on both forwarding
/// paths (the HTTP/1.1 fast path, and YARP's, which takes HTTP/1.0 among others). /metrics moves to the admin listener.
/// </summary>
public sealed class GatewayForwardedTests(ITestOutputHelper output) : IAsyncDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly List<HaloProcess> _gateways = [];
    private readonly GatewayScenario _scenario = new();
    private readonly string _dir = HaloProcess.TempDirectory("forwarded");

    [Fact]
    public async Task ForwardedHeaders_FromAnUntrustedClient_AreReplaced_FromATrustedProxy_AreAppendedTo()
    {
        await _scenario.StartBackendsAsync("b1");
        var (plain, _) = await StartGatewayAsync("plain", "");
        var (behindLb, _) = await StartGatewayAsync("trusting", "trustedProxies: ['127.0.0.0/8']\n");
        var forged = new Dictionary<string, string>
        {
            ["X-Forwarded-For"] = "203.0.113.7", ["X-Forwarded-Proto"] = "https", ["X-Forwarded-Host"] = "bank.example", ["Forwarded"] = "for=203.0.113.7",
        };

        foreach (var version in new[] { System.Net.HttpVersion.Version11, System.Net.HttpVersion.Version10 })
        {
            var host = new Uri(plain).Authority;
            Assert.Equal("127.0.0.1", await HeaderAsync(plain, "X-Forwarded-For", version, forged));
            Assert.Equal("http", await HeaderAsync(plain, "X-Forwarded-Proto", version, forged));
            Assert.Equal(host, await HeaderAsync(plain, "X-Forwarded-Host", version, forged));
            Assert.Equal("", await HeaderAsync(plain, "Forwarded", version, forged));
            Assert.Equal("127.0.0.1", await HeaderAsync(plain, "X-Forwarded-For", version, []));

            // 127.0.0.1 is a trusted proxy of the second gateway: its claims are kept, with the peer appended.
            Assert.Equal("203.0.113.7, 127.0.0.1", await HeaderAsync(behindLb, "X-Forwarded-For", version, forged));
            Assert.Equal("https", await HeaderAsync(behindLb, "X-Forwarded-Proto", version, forged));
            Assert.Equal("bank.example", await HeaderAsync(behindLb, "X-Forwarded-Host", version, forged));
            Assert.Equal("127.0.0.1", await HeaderAsync(behindLb, "X-Forwarded-For", version, []));
            Assert.Equal(new Uri(behindLb).Authority, await HeaderAsync(behindLb, "X-Forwarded-Host", version, []));
        }
    }

    [Fact]
    public async Task AdminListen_ServesMetricsThere_AndTheProxyPortForwardsThePath()
    {
        await _scenario.StartBackendsAsync("b1");
        var (proxy, admin) = await StartGatewayAsync("admin", "adminListen: 127.0.0.1:0\n");
        Assert.NotNull(admin);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        using (var ok = await http.GetAsync(proxy + "/"))
        {
            Assert.True(ok.IsSuccessStatusCode);
        }

        var metrics = await http.GetStringAsync(admin);
        Assert.Contains("halo_gateway", metrics, StringComparison.Ordinal);
        using (var proxied = await http.GetAsync(proxy + "/metrics"))
        {
            Assert.Equal(System.Net.HttpStatusCode.NotFound, proxied.StatusCode); // the backend's answer, not the gateway's metrics
            Assert.Equal("b1", proxied.Headers.GetValues("X-Backend").Single());
        }

        using var elsewhere = await http.GetAsync(new Uri(new Uri(admin!), "/"));
        Assert.Equal(System.Net.HttpStatusCode.NotFound, elsewhere.StatusCode);
        Assert.False(elsewhere.Headers.Contains("X-Backend")); // the admin port proxies nothing
    }

    private async Task<(string Proxy, string? Admin)> StartGatewayAsync(string name, string extra)
    {
        var config = Path.Combine(_dir, name + ".yaml");
        // A generous per-try timeout: under stress-ng a cold backend's first answer can take seconds; timing is not the subject.
        await File.WriteAllTextAsync(config,
            $"routes: [{{cluster: web}}]\n{extra}clusters:\n  web:\n    destinations: [{{url: '{_scenario.Url("b1")}'}}]\n    retry: {{ perTryTimeout: 20s }}\n");
        var gateway = HaloProcess.Start("gateway", "--config", config, "--listen", "127.0.0.1:0");
        _gateways.Add(gateway);
        var proxy = (await gateway.WaitForLineAsync("halo gateway listening on ", Bound)).Split(' ')[^1].TrimEnd('/');
        var admin = extra.Contains("adminListen", StringComparison.Ordinal)
            ? (await gateway.WaitForLineAsync("halo gateway admin (metrics) on ", Bound)).Split(' ')[^1]
            : null;
        return (proxy, admin);
    }

    private static async Task<string> HeaderAsync(string gateway, string header, Version version, Dictionary<string, string> sent)
    {
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(30) };
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{gateway}/header/{header}") { Version = version, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        foreach (var (name, value) in sent)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        using var response = await http.SendAsync(request);
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode} over HTTP/{version}");
        return await response.Content.ReadAsStringAsync();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var g in _gateways)
        {
            output.WriteLine(string.Join('\n', g.Output.TakeLast(10)));
            await g.DisposeAsync();
        }

        _scenario.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
