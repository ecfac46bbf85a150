using System.Diagnostics;
using System.Globalization;
using Halo.Core.Failover;

namespace Halo.Agent.Drivers;

/// <summary>
/// A redis-server the agent runs itself (like Patroni runs PostgreSQL), so a crashed database is restarted in place and
/// always comes back fenced — min-replicas-to-write impossibly high from its first instant — and following the current
/// primary when one is known. A restarted Redis without persistence is empty: it must never resume as primary by itself.
/// </summary>
public sealed class ManagedRedis(string serverPath, int port, string directory, TimeProvider? time = null, RedisAuth? auth = null) : IManagedDatabase
{
    private Process? _process;
    /// <summary>A redis-server a killed predecessor left running, taken over by pid (not our child: Process.HasExited cannot watch it).</summary>
    private int? _adopted;

    public int? Pid => Running ? _adopted ?? _process!.Id : null;

    public int Restarts { get; private set; }

    public bool Running => _adopted is { } pid ? Alive(pid) : _process is { HasExited: false };

    /// <summary>True once the agent has started (or taken over) the database (so a stopped one is a crash, not a first start).</summary>
    public bool Started => _process is not null || _adopted is not null;

    public Task<bool> EnsureRunningAsync(MemberRole assigned, string? followHost, int? followPort, CancellationToken ct) =>
        Task.FromResult(EnsureRunning(followHost, followPort));

    private string PidFile => Path.Combine(directory, "redis.pid");

    /// <summary>Starts redis-server unless it is running; returns true when it (re)started it.</summary>
    public bool EnsureRunning(string? followHost, int? followPort)
    {
        if (Running)
        {
            return false;
        }

        if (!Started && Orphan() is { } orphan)
        {
            // A previous agent was killed (SIGKILL leaves its redis-server running): take that database over rather than fail to
            // start a second one on the port. Whatever it is, the next report and assignment decide (fence, follow or keep).
            _adopted = orphan;
            return false;
        }

        if (Started)
        {
            Restarts++;
            _process?.Dispose();
            _process = null;
            _adopted = null;
        }

        Directory.CreateDirectory(directory);
        var info = new ProcessStartInfo(serverPath) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        if (auth is not null)
        {
            // The credentials go in a 0600 config file (redis-server takes it as its first argument), not on the command line.
            var conf = Path.Combine(directory, "halo-auth.conf");
            File.Delete(conf);
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            using (var writer = new StreamWriter(conf, options))
            {
                writer.Write(auth.ConfigLines);
            }

            info.ArgumentList.Add(conf);
        }

        foreach (var arg in new[]
                 {
                     "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                     "--dir", directory, "--daemonize", "no", "--repl-diskless-sync-delay", "0", "--min-replicas-to-write", RedisDriver.FenceValue.ToString(CultureInfo.InvariantCulture),
                     "--pidfile", PidFile,
                 })
        {
            info.ArgumentList.Add(arg);
        }

        if (followHost is not null && followPort is { } fp)
        {
            info.ArgumentList.Add("--replicaof");
            info.ArgumentList.Add($"{followHost} {fp}");
        }

        _process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {serverPath}");
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        return true;
    }

    /// <summary>The pid of the redis-server a killed predecessor left running from this directory and port, if any.</summary>
    private int? Orphan()
    {
        try
        {
            if (!File.Exists(PidFile) || !int.TryParse(File.ReadAllText(PidFile).Trim(), CultureInfo.InvariantCulture, out var pid))
            {
                return null;
            }

            // redis-server rewrites its command line to "redis-server 127.0.0.1:port", so the arguments cannot identify it; its name,
            // that address and its working directory (it changes into --dir) can: a recycled pid is some other process.
            var comm = File.ReadAllText($"/proc/{pid}/comm").Trim();
            var listening = File.ReadAllText($"/proc/{pid}/cmdline").Split([' ', '\0'], StringSplitOptions.RemoveEmptyEntries);
            var cwd = new DirectoryInfo($"/proc/{pid}/cwd").ResolveLinkTarget(returnFinalTarget: false)?.FullName;
            var ours = comm.StartsWith("redis-server", StringComparison.Ordinal) &&
                       listening.Any(a => a.EndsWith(":" + port.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)) &&
                       string.Equals(cwd?.TrimEnd('/'), Path.GetFullPath(directory).TrimEnd('/'), StringComparison.Ordinal);
            return ours && Alive(pid) ? pid : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException)
        {
            return null; // no such process any more (or not readable): start our own
        }
    }

    /// <summary>Exists and is not a zombie.</summary>
    private static bool Alive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].StartsWith('Z') is false;
        }
        catch (IOException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_adopted is { } adopted && Alive(adopted))
        {
            using var orphan = Process.GetProcessById(adopted);
            orphan.Kill();
        }

        if (_process is { HasExited: false } p)
        {
            p.Kill();
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(5), time ?? TimeProvider.System);
            try
            {
                await p.WaitForExitAsync(wait.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }

        _process?.Dispose();
    }
}
