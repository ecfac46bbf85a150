using System.Diagnostics;
using Halo.Agent.Drivers;

namespace Halo.IntegrationTests.Failover;

/// <summary>A real redis-server on a free 127.0.0.1 port and a temp dir, started fenced (as docs/failover.md asks), killed by pid.</summary>
public sealed class RedisProcess : IAsyncDisposable
{
    private Process? _process;

    private RedisProcess(int port, string directory)
    {
        Port = port;
        Directory = directory;
    }

    public int Port { get; }
    public string Directory { get; }
    public int? Pid => _process is { HasExited: false } p ? p.Id : null;
    public string Address => $"127.0.0.1:{Port}";

    public static async Task<RedisProcess> StartAsync()
    {
        var redis = new RedisProcess(HaloProcess.FreePort(), HaloProcess.TempDirectory("redis"));
        await redis.RestartAsync();
        return redis;
    }

    public async Task RestartAsync()
    {
        var info = new ProcessStartInfo("/usr/bin/redis-server") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[]
                 {
                     "--port", Port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", Directory,
                     "--repl-diskless-sync-delay", "0", "--min-replicas-to-write", RedisDriver.FenceValue.ToString(),
                 })
        {
            info.ArgumentList.Add(a);
        }

        _process?.Dispose();
        if (Environment.GetEnvironmentVariable("HALO_TEST_WIPE") == "1") File.Delete(Path.Combine(Directory, "dump.rdb"));
        _process = Process.Start(info)!;
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(10))
        {
            try
            {
                await using var c = await RespConnection.ConnectAsync("127.0.0.1", Port, TimeSpan.FromMilliseconds(200));
                if (await c.ExecuteAsync(TimeSpan.FromSeconds(1), default, "PING") is "PONG")
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or OperationCanceledException)
            {
            }

            await Task.Delay(20);
        }

        throw new TimeoutException($"redis-server on {Port} did not start");
    }

    public void Kill9()
    {
        if (_process is { HasExited: false } p)
        {
            p.Kill();
            p.WaitForExit(5000);
        }
    }

    /// <summary>SIGSTOP: the process is paused, not dead (its sockets stay open, nothing answers).</summary>
    public void Pause() => Signal(19);

    /// <summary>SIGCONT after <see cref="Pause"/>.</summary>
    public void Resume() => Signal(18);

    private void Signal(int signal)
    {
        if (_process is { HasExited: false } p && Kill(p.Id, signal) != 0)
        {
            throw new InvalidOperationException($"kill({p.Id}, {signal}) failed");
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    /// <summary>Role and whether it accepts writes: master and not fenced. Null when unreachable.</summary>
    public async Task<(string Role, bool Writable)?> RoleAsync()
    {
        try
        {
            await using var c = await RespConnection.ConnectAsync("127.0.0.1", Port, TimeSpan.FromMilliseconds(200));
            // The fence first, then the role: re-pointing runs REPLICAOF before clearing the fence, so this order can never
            // see "master" and "unfenced" from two different moments of a follow.
            var fence = await c.ExecuteAsync(TimeSpan.FromSeconds(1), default, "CONFIG", "GET", "min-replicas-to-write") as object?[];
            var info = await c.ExecuteAsync(TimeSpan.FromSeconds(1), default, "INFO", "replication") as string ?? "";
            var role = info.Contains("role:master", StringComparison.Ordinal) ? "master" : "slave";
            var fenced = fence is [_, string v] && long.Parse(v) >= RedisDriver.FenceValue;
            return (role, role == "master" && !fenced);
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or OperationCanceledException)
        {
            return null;
        }
    }

    public async Task<object?> ExecuteAsync(params string[] args)
    {
        await using var c = await RespConnection.ConnectAsync("127.0.0.1", Port, TimeSpan.FromMilliseconds(500));
        return await c.ExecuteAsync(TimeSpan.FromSeconds(2), default, args);
    }

    public async ValueTask DisposeAsync()
    {
        Kill9();
        _process?.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }

        await Task.CompletedTask;
    }
}
