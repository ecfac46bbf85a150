using System.Diagnostics;
using Halo.Agent.Drivers;

namespace FailoverBench;

/// <summary>Child processes started by the bench and stopped by pid; nothing else is touched.</summary>
internal sealed class Processes : IAsyncDisposable
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
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        _started.Add(p);
        return p;
    }

    public static int FreePort()
    {
        var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        var port = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    public static async Task<object?> RedisAsync(int port, params string[] args)
    {
        await using var c = await RespConnection.ConnectAsync("127.0.0.1", port, TimeSpan.FromMilliseconds(300));
        return await c.ExecuteAsync(TimeSpan.FromSeconds(2), default, args);
    }

    public static async Task<int> PidAsync(int port)
    {
        var info = await RedisAsync(port, "INFO", "server") as string ?? "";
        var line = info.Split('\n').First(l => l.StartsWith("process_id:", StringComparison.Ordinal));
        return int.Parse(line[11..].Trim());
    }

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
            catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or OperationCanceledException or HttpRequestException)
            {
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50), TimeProvider.System);
        }

        throw new TimeoutException($"timed out waiting for {what}");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var p in _started)
        {
            try
            {
                if (!p.HasExited)
                {
                    p.Kill(entireProcessTree: true);
                    using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(5), TimeProvider.System);
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
