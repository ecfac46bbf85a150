// Every wait in these tests has its own bound.
#pragma warning disable xUnit1051

using Halo.IntegrationTests.Gateway;

namespace Halo.IntegrationTests.Security;

/// <summary>
/// A real `halo gateway` proxying to real HTTPS backends (Halo.TestBackend with `halo cert dev` certificates): a cluster
/// with tls pins the CA and presents the client certificate a backend requires, its active probes go over the same TLS;
/// a backend with a certificate of another CA, or one that requires a certificate the cluster does not send, is refused.
/// </summary>
public sealed class GatewayBackendTlsTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly DevCertificateDirectory _certificates = new("gw-tls");

    [Fact]
    public async Task Gateway_ToHttpsBackends_PinsTheCaAndPresentsItsCertificate_RefusesAnotherCa()
    {
        var certs = await _certificates.CreateAsync("certs");
        var other = await _certificates.CreateAsync("other");
        string Pem(string name) => Path.Combine(certs, name);
        using var s = new GatewayScenario();
        var mtls = await s.StartBackendAsync("mtls", "--tls-cert", Pem("server.pem"), "--tls-key", Pem("server-key.pem"), "--tls-client-ca", Pem("ca.pem"));
        var stranger = await s.StartBackendAsync("stranger", "--tls-cert", Path.Combine(other, "server.pem"), "--tls-key", Path.Combine(other, "server-key.pem"));
        Assert.Equal("https", mtls.Scheme);
        var tls = $"{{ ca: '{Pem("ca.pem")}', certificate: '{Pem("client.pem")}', key: '{Pem("client-key.pem")}' }}";
        await s.StartGatewayAsync($$"""
            routes:
              - { path: /healthz, cluster: good }
              - { path: /slow, cluster: nocert }
              - { path: /status, cluster: stranger }
            clusters:
              good:
                destinations: [{ url: '{{mtls.GetLeftPart(UriPartial.Authority)}}', name: mtls }]
                tls: {{tls}}
                connectTimeout: 10s
                retry: { perTryTimeout: 10s }
                health:
                  active: { path: /healthz, interval: 100ms, fastInterval: 100ms, timeout: 2s, rise: 1, fall: 2 }
              nocert:
                destinations: [{ url: '{{mtls.GetLeftPart(UriPartial.Authority)}}', name: mtls }]
                tls: { ca: '{{Pem("ca.pem")}}' }
                retry: { attempts: 1 }
              stranger:
                destinations: [{ url: '{{stranger.GetLeftPart(UriPartial.Authority)}}', name: stranger }]
                tls: {{tls}}
                retry: { attempts: 1 }
            """);

        using var http = new HttpClient { BaseAddress = s.GatewayUrl, Timeout = Bound };
        using (var ok = await http.GetAsync("/healthz"))
        {
            Assert.True((int)ok.StatusCode == 200, $"{(int)ok.StatusCode}; gateway: {s.Gateway.Output}");
            Assert.Equal("mtls", ok.Headers.GetValues("X-Backend").Single());
        }

        // Active probes run over the cluster's TLS too: were they refused, two failures (200 ms) would eject the backend.
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        for (var i = 0; i < 20; i++)
        {
            using var again = await http.GetAsync("/healthz");
            Assert.Equal(200, (int)again.StatusCode);
        }

        using (var noCert = await http.GetAsync("/slow?ms=1"))
        {
            output.WriteLine($"no client certificate: {(int)noCert.StatusCode}");
            Assert.True((int)noCert.StatusCode >= 500, $"a backend requiring a client certificate answered {(int)noCert.StatusCode} without one");
            Assert.False(noCert.Headers.Contains("X-Backend"));
        }

        using (var otherCa = await http.GetAsync("/status/200"))
        {
            output.WriteLine($"backend of another CA: {(int)otherCa.StatusCode}");
            Assert.True((int)otherCa.StatusCode >= 500, $"a backend with another CA's certificate answered {(int)otherCa.StatusCode}");
            Assert.False(otherCa.Headers.Contains("X-Backend"));
        }
    }

    [Fact]
    public async Task BadBackendTlsConfig_ExitsTwoNamingTheKey()
    {
        var certs = await _certificates.CreateAsync("certs");
        string Pem(string name) => Path.Combine(certs, name);
        var cases = new (string Tls, string Url, string Expected)[]
        {
            ($"{{ ca: '{Pem("missing.pem")}' }}", "https://127.0.0.1:9", "clusters.web.tls.ca: no such file"),
            ($"{{ ca: '{Pem("ca-key.pem")}' }}", "https://127.0.0.1:9", "clusters.web.tls.ca: "),
            ("{ certificate: x }", "https://127.0.0.1:9", "clusters.web.tls.ca: required"),
            ($"{{ ca: '{Pem("ca.pem")}', key: '{Pem("client-key.pem")}' }}", "https://127.0.0.1:9", "clusters.web.tls.key: needs certificate"),
            ($"{{ ca: '{Pem("ca.pem")}', certificate: '{Pem("client.pem")}', key: '{Pem("server-key.pem")}' }}", "https://127.0.0.1:9", "clusters.web.tls.certificate: cannot load"),
            ($"{{ ca: '{Pem("ca.pem")}' }}", "http://127.0.0.1:9", "clusters.web.tls: destination 'http://127.0.0.1:9/' is http://"),
        };
        using var s = new GatewayScenario();
        foreach (var (tls, url, expected) in cases)
        {
            var gateway = s.RunGatewayWithConfig($"routes: [{{cluster: web}}]\nclusters:\n  web:\n    destinations: [{{url: '{url}'}}]\n    tls: {tls}\n");
            var code = await gateway.WaitExitAsync(Bound);
            var printed = gateway.Output;
            output.WriteLine($"{tls} -> {code}: {printed}");
            Assert.Equal(2, code);
            Assert.Contains(expected, printed, StringComparison.Ordinal);
        }
    }

    public void Dispose() => _certificates.Dispose();
}
