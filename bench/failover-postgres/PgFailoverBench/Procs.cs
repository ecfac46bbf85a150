using System.Diagnostics;

namespace PgFailoverBench;

/// <summary>Child processes started by the bench and stopped by pid (with their process trees); nothing else is touched.</summary>
internal sealed class Procs : IAsyncDisposable
{
    private readonly List<Process> _started = [];

    public Process Start(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        var p = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {file}");
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, e) => { if (Environment.GetEnvironmentVariable("BENCH_VERBOSE") == "1" && e.Data is { } l) Console.Error.WriteLine($"[{Path.GetFileName(file)}] {l}"); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        _started.Add(p);
        return p;
    }

    public static async Task RunAsync(string file, params string[] args)
    {
        using var p = Process.Start(new ProcessStartInfo(file, args) { UseShellExecute = false })!;
        await p.WaitForExitAsync();
    }

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

    public static async Task WaitAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var sw = TimeProvider.System.GetTimestamp();
        while (TimeProvider.System.GetElapsedTime(sw) < timeout)
        {
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or OperationCanceledException or HttpRequestException or
                                           InvalidOperationException or FormatException or Halo.Client.HaloApiException or Npgsql.NpgsqlException)
            {
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50), TimeProvider.System);
        }

        throw new TimeoutException($"timed out waiting for {what}");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var p in Enumerable.Reverse(_started))
        {
            try
            {
                if (!p.HasExited)
                {
                    p.Kill(entireProcessTree: true);
                    await p.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10), TimeProvider.System).Token);
                }
            }
            catch (Exception ex) when (ex is InvalidOperationException or OperationCanceledException)
            {
            }

            p.Dispose();
        }
    }
}
