// Every wait in these tests has its own bound.
#pragma warning disable xUnit1051

using System.Diagnostics;
using Halo.Agent.Drivers;
using Halo.Cli.Tls;
using Halo.Core.Failover;

namespace Halo.IntegrationTests.Security;

/// <summary>
/// Two real redis-servers serving TLS only (tls-port, client certificates required, replication over TLS) and the Redis
/// driver reaching them with the dev CA pinned: it probes, promotes and re-points; without a client certificate, or
/// pinning another CA, the member is down with the TLS reason.
/// </summary>
public sealed class RedisTlsTests : IAsyncDisposable
{
    private readonly string _dir = HaloProcess.TempDirectory("redis-tls");
    private readonly List<Process> _redis = [];

    [Fact]
    public async Task TlsOnlyRedis_DriverWithPinnedCaAndClientCert_ProbesPromotesFollows_OthersAreDown()
    {
        var time = TimeProvider.System;
        using var ca = DevCertificates.CreateCa("redis CA", time);
        using var server = DevCertificates.CreateServer(ca, DevCertificates.LoopbackNames, time);
        using var client = DevCertificates.CreateClient(ca, "halo-agent", time);
        using var other = DevCertificates.CreateCa("other CA", time);
        var files = new Dictionary<string, string>
        {
            ["ca"] = DevCertificates.CertificatePem(ca), ["other"] = DevCertificates.CertificatePem(other),
            ["server"] = DevCertificates.CertificatePem(server), ["server-key"] = DevCertificates.KeyPem(server),
            ["client"] = DevCertificates.CertificatePem(client), ["client-key"] = DevCertificates.KeyPem(client),
        };
        foreach (var (name, pem) in files)
        {
            await File.WriteAllTextAsync(Pem(name), pem);
        }

        var (primaryPort, replicaPort) = (HaloProcess.FreePort(), HaloProcess.FreePort());
        StartRedis(primaryPort, "primary");
        StartRedis(replicaPort, "replica");
        var tls = new RedisTls(Pem("ca"), Pem("client"), Pem("client-key"));
        await using var primary = new RedisDriver("127.0.0.1", primaryPort, TimeSpan.FromSeconds(2), tls: tls);
        await using var replica = new RedisDriver("127.0.0.1", replicaPort, TimeSpan.FromSeconds(2), tls: tls);
        await WaitAsync(primary, p => p.Up);
        await WaitAsync(replica, p => p.Up);

        await using (var noClientCert = new RedisDriver("127.0.0.1", primaryPort, TimeSpan.FromSeconds(2), tls: new RedisTls(Pem("ca"))))
        {
            Assert.False((await noClientCert.ProbeAsync(default)).Up);
        }

        await using (var wrongCa = new RedisDriver("127.0.0.1", primaryPort, TimeSpan.FromSeconds(2), tls: tls with { CaFile = Pem("other") }))
        {
            var refused = await wrongCa.ProbeAsync(default);
            Assert.False(refused.Up);
            Assert.StartsWith($"TLS to 127.0.0.1:{primaryPort}", refused.Detail, StringComparison.Ordinal);
        }

        await using (var plain = new RedisDriver("127.0.0.1", primaryPort, TimeSpan.FromSeconds(1)))
        {
            Assert.False((await plain.ProbeAsync(default)).Up);
        }

        await primary.PromoteAsync(0, default);
        await replica.FollowAsync("127.0.0.1", primaryPort, default);
        var synced = await WaitAsync(replica, p => p is { Role: MemberRole.Replica, Healthy: true } && p.Detail == "link up");
        Assert.Equal($"127.0.0.1:{primaryPort}", synced.FollowingAddress);
        Assert.Equal(MemberRole.Primary, (await primary.ProbeAsync(default)).Role);
    }

    private string Pem(string name) => Path.Combine(_dir, name + ".pem");

    private void StartRedis(int port, string name)
    {
        var dir = Path.Combine(_dir, name);
        Directory.CreateDirectory(dir);
        var info = new ProcessStartInfo("/usr/bin/redis-server") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[]
                 {
                     "--port", "0", "--tls-port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                     "--dir", dir, "--tls-cert-file", Pem("server"), "--tls-key-file", Pem("server-key"), "--tls-ca-cert-file", Pem("ca"),
                     "--tls-auth-clients", "yes", "--tls-replication", "yes", "--tls-client-cert-file", Pem("client"), "--tls-client-key-file", Pem("client-key"),
                 })
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _redis.Add(process);
    }

    private static async Task<DbProbe> WaitAsync(RedisDriver driver, Func<DbProbe, bool> condition)
    {
        var sw = Stopwatch.StartNew();
        var probe = await driver.ProbeAsync(default);
        while (!condition(probe))
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(30))
            {
                throw new TimeoutException($"last probe: up={probe.Up} role={probe.Role} healthy={probe.Healthy} {probe.Detail}");
            }

            await Task.Delay(100);
            probe = await driver.ProbeAsync(default);
        }

        return probe;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var p in _redis)
        {
            if (!p.HasExited)
            {
                p.Kill();
                await p.WaitForExitAsync();
            }

            p.Dispose();
        }

        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
