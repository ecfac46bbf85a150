using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Halo.IntegrationTests.Ha;

/// <summary>
/// A real etcd cluster of N members (Debian's etcd 3.4) on free 127.0.0.1 ports with data under a temporary directory,
/// started by the test and stopped by pid. Members can be killed (SIGKILL) and started again on the same ports and data,
/// so a test can take quorum away and give it back. Without an `etcd` binary every test using it fails, saying so
/// (scripts/test installs etcd-server). Also compiled into Halo.Store.Tests, as its one-member etcd.
/// </summary>
public sealed class EtcdCluster : IAsyncDisposable
{
    private readonly string _directory;
    private readonly Member[] _members;
    private readonly EtcdTlsFiles? _tls;

    private EtcdCluster(string directory, Member[] members, EtcdTlsFiles? tls)
    {
        _directory = directory;
        _members = members;
        _tls = tls;
    }

    /// <summary>
    /// Client-side TLS of the cluster: etcd serves https:// client URLs with <see cref="Certificate"/>/<see cref="Key"/> and
    /// requires client certificates chaining to <see cref="Ca"/> (--client-cert-auth); the fixture's own health checks
    /// present <see cref="ClientCertificate"/>. Peer traffic stays plain (loopback, one test machine).
    /// </summary>
    public sealed record EtcdTlsFiles(string Ca, string Certificate, string Key, string ClientCertificate, string ClientKey);

    /// <summary>Client URLs of every member, comma-separated: the value of `halo server --etcd`.</summary>
    public string Endpoints => string.Join(',', _members.Select(m => m.ClientUrl));

    public int Count => _members.Length;

    public string ClientUrl(int member) => _members[member].ClientUrl;

    /// <summary>The member's process id, or null while it is stopped.</summary>
    public int? Pid(int member) => _members[member].Process is { HasExited: false } p ? p.Id : null;

    /// <summary>Starts <paramref name="members"/> members as one new cluster and waits (bounded) until each reports healthy.</summary>
    public static async Task<EtcdCluster> StartAsync(int members = 3, EtcdTlsFiles? tls = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(members, 1);
        var directory = Directory.CreateTempSubdirectory("halo-etcd-").FullName;
        var scheme = tls is null ? "http" : "https";
        var list = Enumerable.Range(0, members).Select(i => new Member($"m{i}", scheme, FreePort(), FreePort(), Path.Combine(directory, $"m{i}"))).ToArray();
        var cluster = new EtcdCluster(directory, list, tls);
        try
        {
            // All at once: a member of a new cluster is healthy only once a quorum has elected a leader.
            foreach (var i in Enumerable.Range(0, members))
            {
                cluster.Launch(i);
            }

            await Task.WhenAll(Enumerable.Range(0, members).Select(i => cluster.WaitHealthyAsync(i, TimeSpan.FromSeconds(60))));
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>SIGKILL of one member, as a crash: no chance to flush or to hand over leadership.</summary>
    public async Task KillAsync(int member)
    {
        if (_members[member].Process is { HasExited: false } process)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    /// <summary>Starts a stopped member again on its ports and data; it rejoins the cluster. Waits until it is healthy.</summary>
    public async Task RestartAsync(int member, TimeSpan? timeout = null)
    {
        if (Pid(member) is not null)
        {
            throw new InvalidOperationException($"etcd member {member} is still running");
        }

        Launch(member);
        await WaitHealthyAsync(member, timeout ?? TimeSpan.FromSeconds(60));
    }

    /// <summary>Waits (bounded) until the member answers /health with a leader, the way etcdctl endpoint health checks it.</summary>
    public async Task WaitHealthyAsync(int member, TimeSpan timeout)
    {
        var m = _members[member];
        using var http = new HttpClient(HealthHandler()) { Timeout = TimeSpan.FromSeconds(2) };
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (m.Process is not { HasExited: false } process)
            {
                throw new InvalidOperationException($"etcd {m.Name} exited ({m.Process?.ExitCode}) at start:\n{m.RecentLog()}");
            }

            try
            {
                if ((await http.GetStringAsync($"{m.ClientUrl}/health")).Contains("\"true\"", StringComparison.Ordinal))
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                // Not listening yet, or no leader yet.
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"etcd {m.Name} did not become healthy within {timeout}:\n{m.RecentLog()}");
    }

    public async ValueTask DisposeAsync()
    {
        for (var i = 0; i < _members.Length; i++)
        {
            await KillAsync(i);
            _members[i].Process?.Dispose();
        }

        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // A straggling handle only leaves a temp directory behind; it must not fail the test.
        }
    }

    private HttpMessageHandler HealthHandler()
    {
        var handler = new SocketsHttpHandler { UseProxy = false };
        if (_tls is not null)
        {
            // The fixture is also compiled into Halo.Store.Tests (no Halo.Client), so it pins through the chain policy.
            var roots = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection();
            roots.ImportFromPemFile(_tls.Ca);
            handler.SslOptions.CertificateChainPolicy = new System.Security.Cryptography.X509Certificates.X509ChainPolicy
            {
                TrustMode = System.Security.Cryptography.X509Certificates.X509ChainTrustMode.CustomRootTrust,
                RevocationMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck,
            };
            handler.SslOptions.CertificateChainPolicy.CustomTrustStore.AddRange(roots);
            handler.SslOptions.ClientCertificates = [System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(_tls.ClientCertificate, _tls.ClientKey)];
        }

        return handler;
    }

    private void Launch(int member)
    {
        var m = _members[member];
        var binary = FindEtcd() ?? throw new InvalidOperationException(
            "the `etcd` binary was not found on PATH; these tests need a real etcd 3.4 (Debian: apt-get install etcd-server)");
        var start = new ProcessStartInfo(binary) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        var cluster = string.Join(',', _members.Select(x => $"{x.Name}={x.PeerUrl}"));
        foreach (var argument in new[]
        {
            "--name", m.Name, "--data-dir", m.DataDirectory,
            "--listen-client-urls", m.ClientUrl, "--advertise-client-urls", m.ClientUrl,
            "--listen-peer-urls", m.PeerUrl, "--initial-advertise-peer-urls", m.PeerUrl,
            // Ignored by etcd on a restart with existing data, which rejoins from its own record of the cluster.
            "--initial-cluster", cluster, "--initial-cluster-state", "new", "--initial-cluster-token", Path.GetFileName(_directory),
        })
        {
            start.ArgumentList.Add(argument);
        }

        if (_tls is not null)
        {
            foreach (var argument in new[] { "--cert-file", _tls.Certificate, "--key-file", _tls.Key, "--client-cert-auth", "--trusted-ca-file", _tls.Ca })
            {
                start.ArgumentList.Add(argument);
            }
        }

        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, e) => m.Remember(e.Data);
        process.ErrorDataReceived += (_, e) => m.Remember(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        m.Process?.Dispose();
        m.Process = process;
    }

    private static string? FindEtcd() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, "etcd"))
            .FirstOrDefault(File.Exists);

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private sealed class Member(string name, string scheme, int clientPort, int peerPort, string dataDirectory)
    {
        private readonly Queue<string> _log = new();

        public string Name { get; } = name;
        public string ClientUrl { get; } = $"{scheme}://127.0.0.1:{clientPort}";
        public string PeerUrl { get; } = $"http://127.0.0.1:{peerPort}";
        public string DataDirectory { get; } = dataDirectory;
        public Process? Process { get; set; }

        public void Remember(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (_log)
            {
                _log.Enqueue(line);
                while (_log.Count > 50)
                {
                    _log.Dequeue();
                }
            }
        }

        public string RecentLog()
        {
            lock (_log)
            {
                return string.Join('\n', _log);
            }
        }
    }
}
