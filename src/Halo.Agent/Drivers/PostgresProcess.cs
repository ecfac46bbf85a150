using Halo.Core;
using Halo.Core.Processes;
using System.Diagnostics;
using System.Text;

namespace Halo.Agent.Drivers;

/// <summary>
/// Runs PostgreSQL's programs. As root they run as the <c>postgres</c> user through setpriv (PostgreSQL refuses to run as root;
/// setpriv keeps the environment, so passwords travel in PGPASSWORD, never on a command line). The server itself is started
/// from one long-lived thread with a parent-death signal, so it dies with the agent: a primary whose agent is gone cannot keep
/// accepting writes that no lease protects (<see cref="ParentDeathLauncher"/>).
/// </summary>
internal static class PostgresProcess
{
    /// <summary>The user PostgreSQL runs as: postgres when this process is root, otherwise the current user (null).</summary>
    public static string? RunAs => Environment.IsPrivilegedProcess ? "postgres" : null;

    public static ProcessStartInfo Command(string file, IEnumerable<string> args, bool dieWithAgent = false)
    {
        var info = new ProcessStartInfo { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        var user = RunAs;
        if (user is null && !dieWithAgent)
        {
            info.FileName = file;
        }
        else
        {
            info.FileName = "/usr/bin/setpriv";
            if (user is not null)
            {
                foreach (var a in new[] { $"--reuid={user}", $"--regid={user}", "--init-groups" })
                {
                    info.ArgumentList.Add(a);
                }
            }

            if (dieWithAgent)
            {
                info.ArgumentList.Add("--pdeathsig=KILL");
            }

            info.ArgumentList.Add("--");
            info.ArgumentList.Add(file);
        }

        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        info.Environment["LC_ALL"] = "C";
        return info;
    }

    /// <summary>Runs to completion within <paramref name="timeout"/>; returns the exit code (-1 on timeout) and stdout+stderr.</summary>
    public static async Task<(int Code, string Output)> RunAsync(ProcessStartInfo info, TimeSpan timeout, CancellationToken ct, string? stdin = null)
    {
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {info.FileName}");
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => Append(output, e.Data);
        process.ErrorDataReceived += (_, e) => Append(output, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await process.StandardInput.WriteAsync(stdin ?? "").ConfigureAwait(false);
        process.StandardInput.Close();
        using var cts = new Deadline(timeout, TimeProvider.System, ct);
        try
        {
            await process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            if (ct.IsCancellationRequested)
            {
                throw;
            }

            return (-1, $"timed out after {timeout.TotalSeconds:0}s: {Last(output)}");
        }

        process.WaitForExit();
        lock (output)
        {
            return (process.ExitCode, output.ToString());
        }
    }

    /// <summary>Starts a long-running server that is killed when this process dies (a <see cref="Command"/> with dieWithAgent).</summary>
    public static Task<Process> StartServerAsync(ProcessStartInfo info) => ParentDeathLauncher.StartAsync(info);

    /// <summary>Sends <paramref name="signal"/> (INT, QUIT, KILL) to a pid, or to a process group when <paramref name="pid"/> is negative.</summary>
    public static Task SignalAsync(int pid, string signal, CancellationToken ct) =>
        RunAsync(new ProcessStartInfo("/bin/kill") { ArgumentList = { $"-{signal}", "--", pid.ToString(System.Globalization.CultureInfo.InvariantCulture) }, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false },
            TimeSpan.FromSeconds(5), ct);

    /// <summary>Creates <paramref name="path"/> (mode 0700) owned by the user PostgreSQL runs as.</summary>
    public static async Task CreateDirectoryAsync(string path, CancellationToken ct)
    {
        var args = RunAs is { } user ? new[] { "-d", "-o", user, "-g", user, "-m", "0700", path } : ["-d", "-m", "0700", path];
        var (code, output) = await RunAsync(new ProcessStartInfo("/usr/bin/install", args) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false },
            TimeSpan.FromSeconds(10), ct).ConfigureAwait(false);
        if (code != 0)
        {
            throw new DatabaseSetupException($"cannot create {path}: {Last(output)}");
        }
    }

    /// <summary>Whether any process is still in process group <paramref name="pgid"/> (the postmaster and its children).</summary>
    public static bool GroupAlive(int pgid)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            var name = Path.GetFileName(dir);
            if (name.Length == 0 || !char.IsAsciiDigit(name[0]))
            {
                continue;
            }

            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (fields.Length > 2 && fields[0] != "Z" && fields[2] == pgid.ToString(System.Globalization.CultureInfo.InvariantCulture))
                {
                    return true;
                }
            }
            catch (IOException)
            {
            }
        }

        return false;
    }

    /// <summary>The last non-empty line of a program's output: the one-line reason to show.</summary>
    public static string Last(object output)
    {
        string text;
        lock (output)
        {
            text = output.ToString() ?? "";
        }

        return text.Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.Length > 0) ?? "(no output)";
    }

    private static void Append(StringBuilder output, string? line)
    {
        if (line is not null)
        {
            lock (output)
            {
                output.AppendLine(line);
            }
        }
    }
}
