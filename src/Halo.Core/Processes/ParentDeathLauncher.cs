using System.Collections.Concurrent;
using System.Diagnostics;

namespace Halo.Core.Processes;

/// <summary>
/// Starts children that the kernel kills when this process dies, however it dies (Ctrl+C, kill -9): the command runs under
/// <c>setpriv --pdeathsig=KILL</c>. That signal follows the <em>thread</em> that forked the child, not the process, and
/// thread-pool threads retire; so every such child is forked from one thread that lives as long as this process.
/// Used for programs that are not halo children and cannot watch their parent themselves (PostgreSQL, etcd).
/// </summary>
public static class ParentDeathLauncher
{
    private const string Setpriv = "/usr/bin/setpriv";

    private static readonly BlockingCollection<(ProcessStartInfo Info, TaskCompletionSource<Process> Started)> Launches = new();

    private static readonly Lazy<Thread> Launcher = new(() =>
    {
        var thread = new Thread(() =>
        {
            foreach (var (info, started) in Launches.GetConsumingEnumerable())
            {
                try
                {
                    started.SetResult(Process.Start(info) ?? throw new InvalidOperationException($"could not start {info.FileName}"));
                }
                catch (Exception ex)
                {
                    started.SetException(ex);
                }
            }
        }) { IsBackground = true, Name = "halo-parent-death-launcher" };
        thread.Start();
        return thread;
    });

    /// <summary>
    /// A start info for <paramref name="file"/> run through setpriv with the parent-death signal, after the setpriv options
    /// in <paramref name="setprivOptions"/> (for example <c>--reuid=postgres</c>). Redirects stdout and stderr.
    /// </summary>
    public static ProcessStartInfo Command(string file, IEnumerable<string> arguments, IEnumerable<string>? setprivOptions = null)
    {
        var info = new ProcessStartInfo(Setpriv) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in setprivOptions ?? [])
        {
            info.ArgumentList.Add(a);
        }

        info.ArgumentList.Add("--pdeathsig=KILL");
        info.ArgumentList.Add("--");
        info.ArgumentList.Add(file);
        foreach (var a in arguments)
        {
            info.ArgumentList.Add(a);
        }

        return info;
    }

    /// <summary>Starts <paramref name="info"/> (built by <see cref="Command"/>) from the long-lived launcher thread.</summary>
    public static Task<Process> StartAsync(ProcessStartInfo info)
    {
        ArgumentNullException.ThrowIfNull(info);
        _ = Launcher.Value;
        var started = new TaskCompletionSource<Process>(TaskCreationOptions.RunContinuationsAsynchronously);
        Launches.Add((info, started));
        return started.Task;
    }
}
