using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Halo.Store.Tests;

/// <summary>
/// A real single-node etcd on free 127.0.0.1 ports with a temporary data directory, started by the test
/// and killed by pid. Without an `etcd` binary every test using it fails, saying so: CI installs etcd-server.
/// </summary>
public sealed class EtcdFixture : IAsyncLifetime
{
    private readonly TempDirectory _directory = new();
    private readonly Queue<string> _log = new();
    private Process? _process;
    private int _clientPort;
    private int _peerPort;

    public string Endpoint => $"http://127.0.0.1:{_clientPort}";

    public async ValueTask InitializeAsync()
    {
        _clientPort = FreePort();
        _peerPort = FreePort();
        await StartAsync();
    }

    public IStore CreateStore() => new EtcdStore(new EtcdStoreOptions { Endpoints = Endpoint }, TimeProvider.System);

    /// <summary>Starts etcd on the fixture's ports and data directory and waits (bounded) until it answers /health.</summary>
    public async Task StartAsync()
    {
        var binary = FindEtcd() ?? throw new InvalidOperationException(
            "the `etcd` binary was not found on PATH; the etcd contract tests need a real etcd 3.4 (Debian: apt-get install etcd-server)");
        var start = new ProcessStartInfo(binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var client = $"http://127.0.0.1:{_clientPort}";
        var peer = $"http://127.0.0.1:{_peerPort}";
        foreach (var argument in new[]
        {
            "--name", "halo-test", "--data-dir", Path.Combine(_directory.Path, "data"),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", $"halo-test={peer}", "--initial-cluster-state", "new",
        })
        {
            start.ArgumentList.Add(argument);
        }

        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, e) => Remember(e.Data);
        _process.ErrorDataReceived += (_, e) => Remember(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"etcd exited with {_process.ExitCode} at start:\n{RecentLog()}");
            }

            try
            {
                if ((await http.GetStringAsync($"{client}/health")).Contains("\"true\"", StringComparison.Ordinal))
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException)
            {
                // Listening but not ready within the request timeout.
            }

            await Task.Delay(100);
        }

        throw new InvalidOperationException($"etcd did not become healthy within 30 s:\n{RecentLog()}");
    }

    /// <summary>SIGKILL, as a crash: etcd gets no chance to flush anything it had not already made durable.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process?.Dispose();
        _directory.Dispose();
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

    private void Remember(string? line)
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

    private string RecentLog()
    {
        lock (_log)
        {
            return string.Join('\n', _log);
        }
    }
}
