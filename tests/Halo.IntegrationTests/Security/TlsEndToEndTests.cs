// Every wait in these tests has its own bound.
#pragma warning disable xUnit1051

using System.Diagnostics;
using System.Net.Http.Json;
using System.Security.Cryptography.X509Certificates;
using Halo.Cli.Tls;
using Halo.Client;
using Halo.Core.Failover;
using Halo.IntegrationTests.Failover;
using Halo.IntegrationTests.Gateway;

namespace Halo.IntegrationTests.Security;

/// <summary>
/// Everything over TLS and mTLS, as real processes: `halo cert dev` makes a CA; a `halo server` serves HTTPS and requires
/// client certificates; two `halo agent`s run a real Redis group through it; a `halo gateway` follows the registry over
/// mTLS and serves HTTPS itself. Then what must fail does: no CA pin, no client certificate, a certificate of another CA.
/// Last, the certificate files are rotated and both listeners serve the new certificate without a restart.
/// </summary>
public sealed class TlsEndToEndTests(ITestOutputHelper output) : IAsyncDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly ProcessScope _scope = new(output, "tls");

    [Fact]
    public async Task ServerAgentsGateway_OverMutualTls_WorkAndRefuseStrangers_AndServeARotatedCertificate()
    {
        var certs = _scope.Path("certs");
        var (code, printed) = await HaloProcess.RunAsync(Bound, "cert", "dev", "--out", certs);
        Assert.True(code == 0, printed);
        string Pem(string name) => Path.Combine(certs, name);
        Assert.Contains(Path.GetFullPath(Pem("ca.pem")), printed, StringComparison.Ordinal);
        Assert.Contains(Path.GetFullPath(Pem("client-key.pem")), printed, StringComparison.Ordinal);

        // The listeners serve copies, so the test can rotate them.
        var liveCert = _scope.Path("live.pem");
        var liveKey = _scope.Path("live-key.pem");
        File.Copy(Pem("server.pem"), liveCert);
        File.Copy(Pem("server-key.pem"), liveKey);
        string[] listenerTls = ["--tls-cert", liveCert, "--tls-key", liveKey, "--tls-client-certs", "require", "--tls-client-ca", Pem("ca.pem")];
        string[] clientTls = ["--ca-cert", Pem("ca.pem"), "--client-cert", Pem("client.pem"), "--client-key", Pem("client-key.pem")];

        var port = HaloProcess.FreePort();
        var url = $"https://127.0.0.1:{port}";
        var server = _scope.Start(["server", "--listen", $"127.0.0.1:{port}", "--data", _scope.Path("data"), .. listenerTls]);
        await server.WaitForLineAsync($"listening on {url}/", Bound);

        var trusted = new HaloClientOptions
        {
            Servers = [new Uri(url)], Token = HaloProcess.Token,
            CaCertificateFile = Pem("ca.pem"), ClientCertificateFile = Pem("client.pem"), ClientKeyFile = Pem("client-key.pem"),
            // The connect timeout covers the TLS handshake; a cold server under stress-ng takes seconds over its first ones.
            ConnectTimeout = TimeSpan.FromSeconds(15),
        };

        // A Redis group run by real agents that reach the server over mTLS.
        using var groups = new GroupClient(trusted);
        await groups.PutAsync("cache", new GroupPolicy { AntiFlapWindow = TimeSpan.Zero });
        for (var i = 0; i < 2; i++)
        {
            var redis = await _scope.StartRedisAsync();
            _scope.Start(["agent", "--group", "cache", "--member", $"r{i + 1}", "--redis", redis.Address, "--server", url, .. clientTls]);
        }

        var status = await GroupWait.UntilAsync(groups, "cache", s => s.PrimaryConfirmed && s.Members.Count(m => m.Role == MemberRole.Replica && m.Healthy) == 1, Bound);
        output.WriteLine($"group over mTLS: primary {status.Primary}, epoch {status.Epoch}");
        var primary = _scope.Redis[int.Parse(status.Primary!.AsSpan(1)) - 1];
        Assert.Equal("master", (await primary.RoleAsync())?.Role);

        // A registry service behind a gateway that follows the feed over mTLS and serves HTTPS with client certificates.
        using var scenario = new GatewayScenario();
        await scenario.StartBackendsAsync("b1");
        using (var http = HaloHttp.CreateClient(trusted))
        {
            var backend = new Uri(scenario.Url("b1"));
            using var registered = await http.PutAsJsonAsync("/v1/services/web/instances/b1", new { address = "127.0.0.1", port = backend.Port, ttl = "60s" });
            Assert.True(registered.IsSuccessStatusCode, $"{(int)registered.StatusCode} {await registered.Content.ReadAsStringAsync()}");
        }

        var config = _scope.Path("gateway.yaml");
        await File.WriteAllTextAsync(config, "routes: [{cluster: web}]\nclusters:\n  web:\n    service: web\n");
        var gateway = _scope.Start(["gateway", "--config", config, "--listen", "127.0.0.1:0", "--server", url, .. clientTls, .. listenerTls]);
        var gatewayUrl = (await gateway.WaitForLineAsync("halo gateway listening on https://", Bound)).Split(' ')[^1];
        using (var viaGateway = Https(Pem("ca.pem"), (Pem("client.pem"), Pem("client-key.pem"))))
        {
            await Eventually.UntilAsync(async () => (await TryGetAsync(viaGateway, gatewayUrl + "/")) == 200, Bound, "the gateway to route to b1 over HTTPS");
        }

        // What must fail: the system trust store does not know the dev CA; without a client certificate, or with one of
        // another CA, the handshake is refused; the gateway's listener refuses the same.
        using (var systemTrust = new HttpClient { Timeout = TimeSpan.FromSeconds(20) })
        {
            var refused = await Assert.ThrowsAsync<HttpRequestException>(() => systemTrust.GetAsync(url + "/healthz"));
            output.WriteLine($"no CA pin: {refused.InnerException?.Message ?? refused.Message}");
        }

        using (var noClientCert = Https(Pem("ca.pem"), null))
        {
            Assert.Null(await TryGetAsync(noClientCert, url + "/healthz"));
            Assert.Null(await TryGetAsync(noClientCert, gatewayUrl + "/"));
        }

        var stranger = WriteStrangerClientCertificate();
        using (var otherCa = Https(Pem("ca.pem"), stranger))
        {
            Assert.Null(await TryGetAsync(otherCa, url + "/healthz"));
            Assert.Null(await TryGetAsync(otherCa, gatewayUrl + "/"));
        }

        using (var pinned = Https(Pem("ca.pem"), (Pem("client.pem"), Pem("client-key.pem"))))
        {
            Assert.Equal(200, await TryGetAsync(pinned, url + "/healthz"));
        }

        // Rotation: a new certificate from the same CA replaces the files; both listeners serve it without a restart.
        var before = await ServedThumbprintAsync(url);
        var rotated = RotateServerCertificate(Pem("ca.pem"), Pem("ca-key.pem"), liveCert, liveKey);
        Assert.NotEqual(rotated, before);
        await Eventually.UntilAsync(async () => await ServedThumbprintAsync(url) == rotated, Bound, "the server to serve the rotated certificate");
        await Eventually.UntilAsync(async () => await ServedThumbprintAsync(gatewayUrl) == rotated, Bound, "the gateway to serve the rotated certificate");
        await server.WaitForLineAsync("TLS certificate reloaded", Bound);

        // The agents keep working through the new certificate: a switchover needs both to report and act.
        // Read again: under load the group may have failed over since (the controller's business, not this test's).
        var current = await GroupWait.UntilAsync(groups, "cache", s => s.PrimaryConfirmed && s.Members.Count(m => m.Role == MemberRole.Replica && m.Healthy) == 1, Bound);
        var target = current.Primary == "r1" ? "r2" : "r1";
        await groups.SwitchoverAsync("cache", target);
        await GroupWait.UntilAsync(groups, "cache", s => s.Primary == target && s.PrimaryConfirmed, Bound);
        Assert.Equal("master", (await _scope.Redis[int.Parse(target.AsSpan(1)) - 1].RoleAsync())?.Role);
    }

    [Fact]
    public async Task BadCertificateInput_ExitsWithOneLineNamingTheFlagOrKey()
    {
        var certs = _scope.Path("certs");
        Assert.Equal(0, (await HaloProcess.RunAsync(Bound, "cert", "dev", "--out", certs)).ExitCode);
        var data = _scope.Path("data");
        var config = _scope.Path("server.yaml");
        await File.WriteAllTextAsync(config, $"server:\n  tls:\n    certificate: {Path.Combine(certs, "missing.pem")}\n    key: {Path.Combine(certs, "server-key.pem")}\n");
        var gatewayConfig = _scope.Path("gateway.yaml");
        await File.WriteAllTextAsync(gatewayConfig, "routes: [{cluster: web}]\nclusters:\n  web:\n    destinations: [{url: 'http://127.0.0.1:9'}]\n");
        var cases = new (string[] Args, string Expected)[]
        {
            (["server", "--listen", "127.0.0.1:0", "--data", data, "--tls-cert", Path.Combine(certs, "nope.pem"), "--tls-key", Path.Combine(certs, "server-key.pem")],
                "halo: --tls-cert: no such file"),
            (["server", "--listen", "127.0.0.1:0", "--data", data, "--tls-cert", Path.Combine(certs, "server.pem"), "--tls-key", Path.Combine(certs, "client-key.pem")],
                "halo: --tls-key: "),
            (["server", "--listen", "127.0.0.1:0", "--data", data, "--tls-cert", Path.Combine(certs, "server.pem")], "halo: --tls-key: required"),
            (["server", "--listen", "127.0.0.1:0", "--data", data, "--config", config], "halo: server.tls.certificate: no such file"),
            (["server", "--listen", "127.0.0.1:0", "--data", data, "--tls-cert", Path.Combine(certs, "server.pem"), "--tls-key", Path.Combine(certs, "server-key.pem"),
                "--tls-client-certs", "require"], "halo: --tls-client-certs: "),
            (["server", "--listen", "127.0.0.1:0", "--data", data, "--tls-client-certs", "require", "--tls-client-ca", Path.Combine(certs, "ca.pem")],
                "halo: --tls-client-certs: client certificates need HTTPS"),
            (["agent", "--group", "g", "--member", "m", "--redis", "127.0.0.1:1", "--redis-tls-ca", Path.Combine(certs, "missing.pem")],
                "halo: --redis-tls-ca: no such file"),
            (["agent", "--group", "g", "--member", "m", "--redis", "127.0.0.1:1", "--redis-tls-ca", Path.Combine(certs, "ca-key.pem")],
                "halo: --redis-tls-ca: cannot load"),
            (["agent", "--group", "g", "--member", "m", "--redis", "127.0.0.1:1", "--redis-auth-file", Path.Combine(certs, "missing")],
                "halo: --redis-auth-file: cannot read"),
            (["gateway", "--config", gatewayConfig, "--listen", "127.0.0.1:0", "--tls-cert", Path.Combine(certs, "ca-key.pem"), "--tls-key", Path.Combine(certs, "server-key.pem")],
                "halo: --tls-cert: "),
        };
        foreach (var (args, expected) in cases)
        {
            var (code, printed) = await HaloProcess.RunAsync(Bound, args);
            var lines = printed.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            output.WriteLine($"{string.Join(' ', args.Skip(5))} -> {code}: {printed}");
            Assert.Equal(2, code);
            Assert.Single(lines);
            Assert.StartsWith(expected, lines[0], StringComparison.Ordinal);
        }
    }

    private static HttpClient Https(string ca, (string Cert, string Key)? client)
    {
        var options = new HaloClientOptions
        {
            Servers = [new Uri("https://127.0.0.1:1")], CaCertificateFile = ca, ClientCertificateFile = client?.Cert, ClientKeyFile = client?.Key,
            ConnectTimeout = TimeSpan.FromSeconds(15),
        };
        return new HttpClient(HaloHttp.CreateTransport(options)) { Timeout = TimeSpan.FromSeconds(20) };
    }

    /// <summary>The status code, or null when the connection or handshake failed.</summary>
    private static async Task<int?> TryGetAsync(HttpClient http, string url)
    {
        try
        {
            using var response = await http.GetAsync(url);
            return (int)response.StatusCode;
        }
        catch (HttpRequestException)
        {
            return null;
        }
    }

    /// <summary>The thumbprint of the certificate a fresh connection to <paramref name="url"/> is served.</summary>
    private static async Task<string?> ServedThumbprintAsync(string url)
    {
        string? seen = null;
        using var handler = new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.Zero, ConnectTimeout = TimeSpan.FromSeconds(15) };
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) =>
        {
            seen = certificate is null ? null : new X509Certificate2(certificate).Thumbprint;
            return false; // only looking
        };
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(20) };
        try
        {
            using var _ = await http.GetAsync(url);
        }
        catch (HttpRequestException)
        {
        }

        return seen;
    }

    private (string Cert, string Key) WriteStrangerClientCertificate()
    {
        using var ca = DevCertificates.CreateCa("stranger CA", TimeProvider.System);
        using var client = DevCertificates.CreateClient(ca, "halo-client", TimeProvider.System);
        var cert = _scope.Path("stranger.pem");
        var key = _scope.Path("stranger-key.pem");
        File.WriteAllText(cert, DevCertificates.CertificatePem(client));
        File.WriteAllText(key, DevCertificates.KeyPem(client));
        return (cert, key);
    }

    /// <summary>Issues a new server certificate from the dev CA and swaps it in the way a renewal does: each file replaced whole.</summary>
    private string RotateServerCertificate(string caFile, string caKeyFile, string certFile, string keyFile)
    {
        using var ca = X509Certificate2.CreateFromPemFile(caFile, caKeyFile);
        using var next = DevCertificates.CreateServer(ca, DevCertificates.LoopbackNames, TimeProvider.System);
        File.WriteAllText(keyFile + ".new", DevCertificates.KeyPem(next));
        File.WriteAllText(certFile + ".new", DevCertificates.CertificatePem(next));
        File.Move(keyFile + ".new", keyFile, overwrite: true);
        File.Move(certFile + ".new", certFile, overwrite: true);
        return next.Thumbprint;
    }

    public ValueTask DisposeAsync() => _scope.DisposeAsync();
}
