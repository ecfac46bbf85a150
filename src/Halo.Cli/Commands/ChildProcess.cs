using System.Diagnostics;

namespace Halo.Cli.Commands;

/// <summary>A `halo` child process (sample service, gateway, agent) started by `halo up`, stopped by its pid.</summary>
internal sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _errors = new();
    private readonly TaskCompletionSource<string> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ChildProcess(Process process) => _process = process;

    public int Pid => _process.Id;

    public string Name { get; private init; } = "";

    /// <summary>Starts this same program (`halo ...` or `dotnet halo.dll ...`) with <paramref name="args"/>.</summary>
    public static ChildProcess StartHalo(string name, params string[] args) => StartHaloUntil(name, "listening on", args);

    /// <summary>As <see cref="StartHalo"/>, ready once the child prints a line containing <paramref name="readyMarker"/>.</summary>
    public static ChildProcess StartHaloUntil(string name, string readyMarker, params string[] args)
    {
        var info = new ProcessStartInfo { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (args.Contains("--token-file"))
        {
            // The child's own token file must win: HALO_TOKEN in our environment would come first in its lookup order.
            info.Environment.Remove("HALO_TOKEN");
            info.Environment.Remove("HALO_TOKEN_FILE");
        }

        // Children end with `halo up` even when it is killed outright, instead of living on as orphans.
        info.Environment[ParentWatch.Variable] = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var self = Environment.ProcessPath!;
        if (Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            info.FileName = self;
            info.ArgumentList.Add(typeof(ChildProcess).Assembly.Location);
        }
        else
        {
            info.FileName = self;
        }

        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        var process = Process.Start(info) ?? throw new CliException($"could not start {name}");
        var child = new ChildProcess(process) { Name = name };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is { } line && line.Contains(readyMarker, StringComparison.Ordinal))
            {
                child._ready.TrySetResult(line);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { } line)
            {
                child._errors.Enqueue(line);
                while (child._errors.Count > 20 && child._errors.TryDequeue(out string? _))
                {
                }
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>The child's ready line, or an error if it exits or stays silent.</summary>
    public async Task<string> WaitReadyAsync(TimeSpan timeout, CancellationToken ct)
    {
        var exited = _process.WaitForExitAsync(ct);
        var first = await Task.WhenAny(_ready.Task, exited, Task.Delay(timeout, TimeProvider.System, ct));
        return first == _ready.Task ? await _ready.Task
            : throw new CliException($"{Name} {(first == exited ? $"exited with code {_process.ExitCode}" : "did not start in time")}{(_errors.IsEmpty ? "" : ": " + string.Join(" | ", _errors))}");
    }

    public bool HasExited => _process.HasExited;

    public ValueTask DisposeAsync() => StopAsync(_process);

    /// <summary>Kills <paramref name="process"/> with its tree, waits (bounded) for it to exit, and disposes it; gone already is fine.</summary>
    public static async ValueTask StopAsync(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(5), TimeProvider.System);
                await process.WaitForExitAsync(wait.Token);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or OperationCanceledException or System.ComponentModel.Win32Exception)
        {
        }

        process.Dispose();
    }
}
