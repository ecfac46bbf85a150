using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace Halo.IntegrationTests.Gateway;

/// <summary>
/// A child process started by a test (`dotnet some.dll ...`), killed by its own pid on dispose —
/// resumed first if a test froze it with SIGSTOP, so nothing is left behind.
/// </summary>
internal sealed class ChildProcess : IDisposable
{
    private const int SigKill = 9;
    private const int SigCont = 18;
    private const int SigStop = 19;
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly TaskCompletionSource<string> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ChildProcess(Process process)
    {
        _process = process;
    }

    public int Pid => _process.Id;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public static ChildProcess Start(string dll, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["DOTNET_gcServer"] = "0";
        var p = new Process { StartInfo = psi, EnableRaisingEvents = true };
        var child = new ChildProcess(p);
        p.OutputDataReceived += (_, e) => child.OnLine(e.Data);
        p.ErrorDataReceived += (_, e) => child.OnLine(e.Data);
        p.Exited += (_, _) => child._listening.TrySetException(new InvalidOperationException("process exited: " + child.Output));
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return child;
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }

        var i = line.IndexOf("listening on ", StringComparison.Ordinal);
        if (i >= 0)
        {
            _listening.TrySetResult(line[(i + "listening on ".Length)..].Trim());
        }
    }

    /// <summary>Waits (bounded) for the "listening on URL" line and returns the URL.</summary>
    public async Task<Uri> WaitListeningAsync(TimeSpan timeout)
    {
        var url = await _listening.Task.WaitAsync(timeout);
        return new Uri(url);
    }

    /// <summary>
    /// Waits for the "listening on URL" line while the child makes progress: fails once it has used
    /// <paramref name="cpuBudget"/> of CPU without listening (stuck in a loop), or after <paramref name="wallBound"/> (hung
    /// with nothing to run, or a machine starved past use). A bound on wall time alone measured the machine, not the child:
    /// `halo gateway` with a static config waits for nothing before it listens (no feed to read) but needs 0.7-0.9 s of CPU
    /// (JIT of the host, Kestrel, the proxy); measured on 2 cores, 1.2-1.5 s of wall time at load 15 and 22-27 s at load
    /// 37-44, so at load 47 it missed a 30 s bound while working.
    /// </summary>
    public async Task<Uri> WaitListeningAsync(TimeSpan cpuBudget, TimeSpan wallBound)
    {
        var started = TimeProvider.System.GetTimestamp();
        while (!_listening.Task.IsCompleted)
        {
            var cpu = CpuTime();
            var elapsed = TimeProvider.System.GetElapsedTime(started);
            if (cpu > cpuBudget || elapsed > wallBound)
            {
                throw new TimeoutException(
                    $"no 'listening on' after {elapsed.TotalSeconds:0.0} s, {cpu.TotalSeconds:0.00} s of its CPU (budget {cpuBudget.TotalSeconds} s), " +
                    $"load {File.ReadAllText("/proc/loadavg").Trim()}; output:\n{Output}");
            }

            await Task.WhenAny(_listening.Task, Task.Delay(100));
        }

        return new Uri(await _listening.Task);
    }

    private TimeSpan CpuTime()
    {
        try
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }
        catch (InvalidOperationException)
        {
            return TimeSpan.Zero; // exited: the Exited handler fails the wait with the output
        }
    }

    public async Task<int> WaitExitAsync(TimeSpan timeout)
    {
        await _process.WaitForExitAsync().WaitAsync(timeout);
        return _process.ExitCode;
    }

    public void Freeze() => Signal(SigStop);

    public void Thaw() => Signal(SigCont);

    public void KillHard() => Signal(SigKill);

    private void Signal(int sig)
    {
        if (!_process.HasExited)
        {
            _ = SendSignal(_process.Id, sig);
        }
    }

    // DllImport rather than LibraryImport: the latter needs AllowUnsafeBlocks in a project file shared with other suites.
#pragma warning disable SYSLIB1054
    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int SendSignal(int pid, int sig);
#pragma warning restore SYSLIB1054

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                Thaw();
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
    }
}
