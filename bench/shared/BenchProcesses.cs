using System.Data.Common;
using System.Diagnostics;

namespace Halo.Bench.Shared;

/// <summary>
/// Child processes a failover bench starts and stops by pid (with their process trees; nothing else is touched), and the
/// small waits around them. One file, compiled into each failover bench.
/// </summary>
internal sealed class BenchProcesses : IAsyncDisposable
{
    private readonly List<Process> _started = [];

    /// <summary>Starts <paramref name="file"/>; its output is drained (and echoed to stderr when BENCH_VERBOSE=1).</summary>
    public Process Start(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        var p = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {file}");
        var verbose = Environment.GetEnvironmentVariable("BENCH_VERBOSE") == "1";
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, e) =>
        {
            if (verbose && e.Data is { } line)
            {
                Console.Error.WriteLine($"[{Path.GetFileName(file)}] {line}");
            }
        };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        _started.Add(p);
        return p;
    }

    /// <summary>Runs a command to its end, its output going to the bench's own.</summary>
    public static async Task RunAsync(string file, params string[] args)
    {
        using var p = Process.Start(new ProcessStartInfo(file, args) { UseShellExecute = false }) ?? throw new InvalidOperationException($"cannot start {file}");
        await p.WaitForExitAsync();
    }

    /// <summary>SIGKILL of one pid (gone already is fine).</summary>
    public static void Kill9(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            p.Kill();
        }
        catch (ArgumentException)
        {
        }
    }

    public static int FreePort()
    {
        var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        var port = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    /// <summary>Polls <paramref name="condition"/> every 50 ms until true; a condition that throws a connection-ish error counts as not yet.</summary>
    public static async Task WaitAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var start = TimeProvider.System.GetTimestamp();
        while (TimeProvider.System.GetElapsedTime(start) < timeout)
        {
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or OperationCanceledException or HttpRequestException or
                                           InvalidOperationException or FormatException or Halo.Client.HaloApiException or DbException)
            {
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50), TimeProvider.System);
        }

        throw new TimeoutException($"timed out waiting for {what}");
    }

    /// <summary>Stops what this bench started, newest first, waiting (bounded) for each to exit.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var p in Enumerable.Reverse(_started))
        {
            try
            {
                if (!p.HasExited)
                {
                    p.Kill(entireProcessTree: true);
                    using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10), TimeProvider.System);
                    await p.WaitForExitAsync(wait.Token);
                }
            }
            catch (Exception ex) when (ex is InvalidOperationException or OperationCanceledException)
            {
            }

            p.Dispose();
        }
    }
}
