using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Halo.Chaos;

/// <summary>A process the runner started: output appended to a log file, stopped only by its pid.</summary>
public sealed class Child : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _log;

    private Child(Process process, StreamWriter log)
    {
        _process = process;
        _log = log;
    }

    public int Pid => _process.Id;

    public bool Exited => _process.HasExited;

    public static Child Start(string log, string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        // Children get --token-file; a HALO_TOKEN of our environment would come first in their lookup order.
        info.Environment.Remove("HALO_TOKEN");
        info.Environment.Remove("HALO_TOKEN_FILE");
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        var writer = new StreamWriter(log, append: true) { AutoFlush = true };
        var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {file}");
        var child = new Child(process, writer);
        process.OutputDataReceived += (_, e) => child.Write(e.Data);
        process.ErrorDataReceived += (_, e) => child.Write(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    private void Write(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_log)
        {
            _log.WriteLine(line);
        }
    }

    /// <summary>kill -9, and wait until it is gone.</summary>
    public async Task Kill9Async()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
        }

        await WaitExitAsync().ConfigureAwait(false);
    }

    private async Task WaitExitAsync()
    {
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10), TimeProvider.System);
        try
        {
            await _process.WaitForExitAsync(wait.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>SIGSTOP / SIGCONT / SIGKILL by pid (a process this runner did not start itself, such as an agent's redis-server).</summary>
    public static void Signal(int pid, int signal)
    {
        if (!TrySignal(pid, signal))
        {
            throw new InvalidOperationException($"kill({pid}, {signal}) failed: errno {NoSuchProcess}");
        }
    }

    /// <summary>As <see cref="Signal"/>, but false when the process no longer exists (ESRCH); any other failure throws.</summary>
    public static bool TrySignal(int pid, int signal)
    {
        if (Kill(pid, signal) == 0)
        {
            return true;
        }

        var errno = Marshal.GetLastPInvokeError();
        return errno == NoSuchProcess ? false : throw new InvalidOperationException($"kill({pid}, {signal}) failed: errno {errno}");
    }

    private const int NoSuchProcess = 3; // ESRCH

    public const int SigKill = 9;
    public const int SigCont = 18;
    public const int SigStop = 19;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
        }

        await WaitExitAsync().ConfigureAwait(false);
        _process.Dispose();
        lock (_log)
        {
            _log.Dispose();
        }
    }
}
