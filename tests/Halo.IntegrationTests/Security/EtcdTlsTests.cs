using Halo.IntegrationTests.Ha;

namespace Halo.IntegrationTests.Security;

/// <summary>
/// `halo server --store etcd` over TLS to a real etcd that serves https:// and requires client certificates
/// (--client-cert-auth), with certificates from `halo cert dev`: servers register and list through it; a server without
/// the CA pin, without a client certificate, or with one of another CA is refused with one line naming the endpoint.
/// </summary>
public sealed class EtcdTlsTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);
    private readonly DevCertificateDirectory _certificates = new("etcd-tls");

    [Fact]
    public async Task Servers_OverMutualTlsEtcd_RegisterAndList_AndStrangersAreRefusedNamingTheEndpoint()
    {
        var certs = await _certificates.CreateAsync("certs");
        var other = await _certificates.CreateAsync("other");
        string Pem(string name) => Path.Combine(certs, name);
        var tls = new EtcdCluster.EtcdTlsFiles(Pem("ca.pem"), Pem("server.pem"), Pem("server-key.pem"), Pem("client.pem"), Pem("client-key.pem"));
        await using var etcd = await EtcdCluster.StartAsync(members: 1, tls);
        Assert.StartsWith("https://", etcd.Endpoints, StringComparison.Ordinal);

        await using (var servers = await ServerCluster.StartAsync(
            etcd, 2, "--etcd-ca", Pem("ca.pem"), "--etcd-cert", Pem("client.pem"), "--etcd-key", Pem("client-key.pem")))
        {
            Assert.Equal(201, await servers.RegisterAsync(0, "web", "web-1", 8081));
            Assert.Equal(201, await servers.RegisterAsync(1, "web", "web-2", 8082));
            var catalog = await servers.GetJsonAsync(1, "v1/catalog");
            Assert.Equal(2, catalog.GetProperty("instances").GetArrayLength());
        }

        // halo snapshot reads and writes the same etcd with the same three flags; without them it is refused like the server.
        var file = Path.Combine(_certificates.Root, "state.json");
        string[] tlsArgs = ["--etcd", etcd.Endpoints, "--etcd-ca", Pem("ca.pem"), "--etcd-cert", Pem("client.pem"), "--etcd-key", Pem("client-key.pem")];
        var (saved, savedOutput) = await HaloProcess.RunAsync(Bound, ["snapshot", "save", file, .. tlsArgs]);
        Assert.True(saved == 0, savedOutput);
        var snapshot = await File.ReadAllTextAsync(file);
        Assert.Contains("web-1", snapshot, StringComparison.Ordinal);
        Assert.Contains("web-2", snapshot, StringComparison.Ordinal);
        var (restored, restoredOutput) = await HaloProcess.RunAsync(Bound, ["snapshot", "restore", file, .. tlsArgs, "--force"]);
        Assert.True(restored == 0, restoredOutput);
        var (refused, refusedOutput) = await HaloProcess.RunAsync(Bound, "snapshot", "save", file, "--etcd", etcd.Endpoints, "--etcd-ca", Pem("ca.pem"));
        output.WriteLine($"snapshot save without a client certificate -> {refused}: {refusedOutput}");
        Assert.NotEqual(0, refused);
        Assert.StartsWith("halo: cannot reach etcd at " + etcd.Endpoints, Assert.Single(refusedOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries)), StringComparison.Ordinal);

        var refusals = new (string Why, string[] Args)[]
        {
            ("no CA pin (the system trust store does not know the dev CA)", ["--etcd-cert", Pem("client.pem"), "--etcd-key", Pem("client-key.pem")]),
            ("no client certificate", ["--etcd-ca", Pem("ca.pem")]),
            ("a client certificate of another CA", ["--etcd-ca", Pem("ca.pem"), "--etcd-cert", Path.Combine(other, "client.pem"), "--etcd-key", Path.Combine(other, "client-key.pem")]),
            ("a pin of another CA", ["--etcd-ca", Path.Combine(other, "ca.pem"), "--etcd-cert", Pem("client.pem"), "--etcd-key", Pem("client-key.pem")]),
        };
        foreach (var (why, args) in refusals)
        {
            var (code, printed) = await HaloProcess.RunAsync(
                Bound, ["server", "--etcd", etcd.Endpoints, "--listen", "127.0.0.1:0", "--data", Path.Combine(_certificates.Root, "data"), .. args]);
            output.WriteLine($"{why} -> {code}: {printed}");
            Assert.Equal(1, code);
            var line = Assert.Single(printed.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith("halo: cannot reach etcd at " + etcd.Endpoints, line, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task BadEtcdTlsInput_ExitsTwoNamingTheFlagOrKey()
    {
        var certs = await _certificates.CreateAsync("certs");
        string Pem(string name) => Path.Combine(certs, name);
        var https = $"https://127.0.0.1:{HaloProcess.FreePort()}";
        var config = Path.Combine(_certificates.Root, "server.yaml");
        await File.WriteAllTextAsync(config, $"server:\n  store: etcd\n  etcd: {https}\n  etcdCa: {Pem("missing.pem")}\n");
        var cases = new (string[] Args, string Expected)[]
        {
            (["--etcd", https, "--etcd-ca", Pem("missing.pem")], "halo: --etcd-ca: no such file"),
            (["--etcd", https, "--etcd-ca", Pem("ca-key.pem")], "halo: --etcd-ca: "), // a key, not a certificate: unreadable as a CA
            (["--etcd", https, "--etcd-ca", certs], "halo: --etcd-ca: no such file"), // a directory
            (["--etcd", https, "--etcd-cert", Pem("client.pem"), "--etcd-key", Pem("missing.pem")], "halo: --etcd-key: no such file"),
            (["--etcd", https, "--etcd-cert", Pem("client.pem"), "--etcd-key", Pem("server-key.pem")], "halo: --etcd-cert: cannot load"),
            (["--etcd", https, "--etcd-key", Pem("client-key.pem")], "halo: --etcd-key: needs --etcd-cert"),
            (["--etcd", "http://127.0.0.1:2379", "--etcd-ca", Pem("ca.pem")], "halo: --etcd-ca: the etcd endpoints are http://"),
            (["--etcd-ca", Pem("ca.pem")], "halo: --etcd-ca: needs the etcd store"),
            (["--etcd", $"{https},http://127.0.0.1:2379", "--etcd-ca", Pem("ca.pem")], "halo: --etcd: endpoints must all be http:// or all https://"),
            (["--config", config], "halo: server.etcdCa: no such file"),
            (["--config", config, "--etcd-ca", Pem("nope.pem")], "halo: --etcd-ca: no such file"), // the flag overrides the key
        };
        foreach (var (args, expected) in cases)
        {
            var (code, printed) = await HaloProcess.RunAsync(Bound, ["server", "--listen", "127.0.0.1:0", "--data", Path.Combine(_certificates.Root, "data"), .. args]);
            output.WriteLine($"{string.Join(' ', args)} -> {code}: {printed}");
            Assert.Equal(2, code);
            var line = Assert.Single(printed.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith(expected, line, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task BadSnapshotEtcdTlsInput_ExitsTwoNamingTheFlag()
    {
        var certs = await _certificates.CreateAsync("certs");
        string Pem(string name) => Path.Combine(certs, name);
        var https = $"https://127.0.0.1:{HaloProcess.FreePort()}";
        var file = Path.Combine(_certificates.Root, "state.json");
        var cases = new (string[] Args, string Expected)[]
        {
            (["save", file, "--etcd-ca", Pem("ca.pem")], "halo: --etcd-ca: needs the etcd store (--etcd"),
            (["save", file, "--data", _certificates.Root, "--etcd-cert", Pem("client.pem")], "halo: --etcd-cert: needs the etcd store (--etcd"),
            (["save", file, "--etcd", https, "--etcd-ca", Pem("missing.pem")], "halo: --etcd-ca: no such file"),
            (["save", file, "--etcd", https, "--etcd-key", Pem("client-key.pem")], "halo: --etcd-key: needs --etcd-cert"),
            (["save", file, "--etcd", "http://127.0.0.1:2379", "--etcd-ca", Pem("ca.pem")], "halo: --etcd-ca: the etcd endpoints are http://"),
            (["save", file, "--etcd", $"{https},http://127.0.0.1:2379"], "halo: --etcd: endpoints must all be http:// or all https://"),
            (["save", file, "--etcd", https, "--etcd-cert", Pem("client.pem"), "--etcd-key", Pem("server-key.pem")], "halo: --etcd-cert: cannot load"),
        };
        await File.WriteAllTextAsync(file, "{}");
        foreach (var (args, expected) in cases)
        {
            var (code, printed) = await HaloProcess.RunAsync(Bound, ["snapshot", .. args]);
            output.WriteLine($"{string.Join(' ', args)} -> {code}: {printed}");
            Assert.Equal(2, code);
            var line = Assert.Single(printed.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith(expected, line, StringComparison.Ordinal);
        }
    }

    public void Dispose() => _certificates.Dispose();
}
