using System.Diagnostics;
using System.Globalization;
using Halo.Core.Failover;

namespace Halo.Agent.Drivers;

/// <summary>
/// A redis-server the agent runs itself (like Patroni runs PostgreSQL), so a crashed database is restarted in place and
/// always comes back fenced — min-replicas-to-write impossibly high from its first instant — and following the current
/// primary when one is known. A restarted Redis without persistence is empty: it must never resume as primary by itself.
/// </summary>
public sealed class ManagedRedis(string serverPath, int port, string directory, TimeProvider? time = null) : IManagedDatabase
{
    private Process? _process;

    public int? Pid => _process is { HasExited: false } p ? p.Id : null;

    public int Restarts { get; private set; }

    public bool Running => _process is { HasExited: false };

    /// <summary>True once the agent has started the database at least once (so a stopped one is a crash, not a first start).</summary>
    public bool Started => _process is not null;

    public Task<bool> EnsureRunningAsync(MemberRole assigned, string? followHost, int? followPort, CancellationToken ct) =>
        Task.FromResult(EnsureRunning(followHost, followPort));

    /// <summary>Starts redis-server unless it is running; returns true when it (re)started it.</summary>
    public bool EnsureRunning(string? followHost, int? followPort)
    {
        if (Running)
        {
            return false;
        }

        if (_process is not null)
        {
            Restarts++;
            _process.Dispose();
        }

        Directory.CreateDirectory(directory);
        var info = new ProcessStartInfo(serverPath) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[]
                 {
                     "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                     "--dir", directory, "--daemonize", "no", "--repl-diskless-sync-delay", "0", "--min-replicas-to-write", RedisDriver.FenceValue.ToString(CultureInfo.InvariantCulture),
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

    public async ValueTask DisposeAsync()
    {
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
