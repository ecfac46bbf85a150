using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Halo.Core.Processes;

namespace Halo.Cli.Commands;

/// <summary>
/// The three-member etcd cluster `halo up --ha` runs under its servers: Debian's `etcd` binary on free 127.0.0.1 ports,
/// a fresh cluster each run (its data under &lt;data&gt;/etcd, wiped at start, since the ports change), stopped by pid.
/// </summary>
internal sealed class UpEtcdCluster : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private readonly List<(Process Process, ConcurrentQueue<string> Output)> _members = [];

    private UpEtcdCluster(IReadOnlyList<string> clientUrls) => ClientUrls = clientUrls;

    /// <summary>Each member's client URL.</summary>
    public IReadOnlyList<string> ClientUrls { get; }

    /// <summary>The value of `halo server --etcd`.</summary>
    public string Endpoints => string.Join(',', ClientUrls);

    public IEnumerable<int> Pids => _members.Select(m => m.Process.Id);

    /// <summary>Starts <paramref name="members"/> members as one new cluster and waits (bounded) until every one reports healthy.</summary>
    public static async Task<UpEtcdCluster> StartAsync(string dataDirectory, int members, CancellationToken ct)
    {
        var binary = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, "etcd")).FirstOrDefault(File.Exists)
            ?? throw new CliException("--ha: the `etcd` binary is not installed (Debian: apt-get install etcd-server)");
        var directory = Path.Combine(dataDirectory, "etcd");
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }

        var names = Enumerable.Range(1, members).Select(i => $"etcd-{i}").ToArray();
        var clients = names.Select(_ => $"http://127.0.0.1:{RedisGroupDemo.FreePort()}").ToArray();
        var peers = names.Select(_ => $"http://127.0.0.1:{RedisGroupDemo.FreePort()}").ToArray();
        var initial = string.Join(',', names.Select((n, i) => $"{n}={peers[i]}"));
        var cluster = new UpEtcdCluster(clients);
        try
        {
            // All at once: a member of a new cluster is healthy only once a quorum has elected a leader.
            for (var i = 0; i < members; i++)
            {
                await cluster.LaunchAsync(binary, [
                    "--name", names[i], "--data-dir", Path.Combine(directory, names[i]),
                    "--listen-client-urls", clients[i], "--advertise-client-urls", clients[i],
                    "--listen-peer-urls", peers[i], "--initial-advertise-peer-urls", peers[i],
                    "--initial-cluster", initial, "--initial-cluster-state", "new", "--initial-cluster-token", "halo-up"]);
            }

            await Task.WhenAll(Enumerable.Range(0, members).Select(i => cluster.WaitHealthyAsync(i, ct)));
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (process, _) in _members)
        {
            await ChildProcess.StopAsync(process);
        }
    }

    /// <summary>
    /// Starts one member so that it dies with this process however this process ends (Ctrl+C, kill -9): etcd is not a halo
    /// child, so it cannot watch for its parent the way <see cref="ParentWatch"/> children do (<see cref="ParentDeathLauncher"/>).
    /// </summary>
    private async Task LaunchAsync(string binary, string[] arguments)
    {
        Process process;
        try
        {
            process = await ParentDeathLauncher.StartAsync(ParentDeathLauncher.Command(binary, arguments));
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            throw new CliException($"--ha: could not start {binary}: {ex.Message}");
        }

        var output = new ConcurrentQueue<string>();
        process.OutputDataReceived += (_, e) => Remember(output, e.Data);
        process.ErrorDataReceived += (_, e) => Remember(output, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _members.Add((process, output));
    }

    private static void Remember(ConcurrentQueue<string> output, string? line)
    {
        if (line is not null)
        {
            output.Enqueue(line);
            while (output.Count > 10 && output.TryDequeue(out _))
            {
            }
        }
    }

    private async Task WaitHealthyAsync(int member, CancellationToken ct)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = TimeProvider.System.GetUtcNow() + StartTimeout;
        var (process, output) = _members[member];
        while (TimeProvider.System.GetUtcNow() < deadline)
        {
            if (process.HasExited)
            {
                throw new CliException(string.Create(CultureInfo.InvariantCulture,
                    $"--ha: etcd at {ClientUrls[member]} exited with code {process.ExitCode}: {string.Join(" | ", output.TakeLast(3))}"));
            }

            try
            {
                if ((await http.GetStringAsync(new Uri(ClientUrls[member] + "/health"), ct)).Contains("\"true\"", StringComparison.Ordinal))
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                // Not listening yet, or no leader yet.
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200), TimeProvider.System, ct);
        }

        throw new CliException($"--ha: etcd at {ClientUrls[member]} did not become healthy within {StartTimeout.TotalSeconds:0} s");
    }
}
