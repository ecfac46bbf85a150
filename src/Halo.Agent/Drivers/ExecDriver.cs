using System.Diagnostics;
using System.Globalization;
using Halo.Core;
using Halo.Core.Failover;

namespace Halo.Agent.Drivers;

/// <summary>Shell commands that manage any database the agent has no built-in driver for.</summary>
public sealed record ExecCommands
{
    /// <summary>Exit code 0 means the database is up and healthy. Required.</summary>
    public required string Health { get; init; }
    /// <summary>Prints the replication position (an integer). Optional; 0 when absent.</summary>
    public string? Position { get; init; }
    /// <summary>Makes the database primary. Gets HALO_MIN_REPLICAS.</summary>
    public required string Promote { get; init; }
    /// <summary>Makes the database follow a primary. Gets HALO_PRIMARY_HOST and HALO_PRIMARY_PORT.</summary>
    public required string Follow { get; init; }
    /// <summary>Stops writes. Optional: without it the agent can only report, and the documented bound does not hold.</summary>
    public string? Fence { get; init; }
    /// <summary>Kills the database (drills). Optional.</summary>
    public string? Kill { get; init; }
}

/// <summary>
/// Runs `sh -c` commands with a timeout. The exec driver cannot ask the database its role, so it reports the role it last
/// set (unknown until the first promote or follow): the commands are trusted to be idempotent.
/// </summary>
public sealed class ExecDriver(string address, ExecCommands commands, TimeSpan timeout, TimeProvider? time = null) : IDatabaseDriver
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private MemberRole _role = MemberRole.Unknown;
    private bool _fenced;
    private string? _following;

    public string Address => address;

    public async Task<DbProbe> ProbeAsync(CancellationToken ct)
    {
        var (code, said) = await RunAsync(commands.Health, [], ct).ConfigureAwait(false);
        if (code != 0)
        {
            said = said.Trim();
            return code == -1
                ? DbProbe.Down($"health command {said}") with { TimedOut = true }
                : DbProbe.Down($"health command exited {code}{(said.Length == 0 ? "" : ": " + said[..Math.Min(said.Length, 200)])}");
        }

        long offset = 0;
        if (commands.Position is { } position)
        {
            var (pcode, output) = await RunAsync(position, [], ct).ConfigureAwait(false);
            _ = pcode == 0 && long.TryParse(output.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out offset);
        }

        return new DbProbe(true, true, _role, offset, _fenced, _following, null, null);
    }

    public async Task PromoteAsync(int minReplicasToWrite, CancellationToken ct)
    {
        await RequireAsync(commands.Promote, [("HALO_MIN_REPLICAS", minReplicasToWrite.ToString(CultureInfo.InvariantCulture))], ct).ConfigureAwait(false);
        (_role, _fenced, _following) = (MemberRole.Primary, false, null);
    }

    public async Task FollowAsync(string host, int port, CancellationToken ct)
    {
        await RequireAsync(commands.Follow, [("HALO_PRIMARY_HOST", host), ("HALO_PRIMARY_PORT", port.ToString(CultureInfo.InvariantCulture))], ct).ConfigureAwait(false);
        (_role, _fenced, _following) = (MemberRole.Replica, false, $"{host}:{port}");
    }

    public async Task FenceAsync(CancellationToken ct)
    {
        if (commands.Fence is { } fence)
        {
            await RequireAsync(fence, [], ct).ConfigureAwait(false);
            _fenced = true;
        }
    }

    public async Task<bool> KillAsync(CancellationToken ct) =>
        commands.Kill is { } kill && (await RunAsync(kill, [], ct).ConfigureAwait(false)).ExitCode == 0;

    private async Task RequireAsync(string command, (string, string)[] env, CancellationToken ct)
    {
        var (code, output) = await RunAsync(command, env, ct).ConfigureAwait(false);
        if (code != 0)
        {
            throw new InvalidOperationException($"'{command}' exited {code}: {output.Trim()}");
        }
    }

    /// <summary>
    /// Runs one command. Both pipes are drained while it runs (a child that fills a 64 KiB pipe nobody reads would block
    /// forever), keeping at most <see cref="MaxCapture"/> characters of each. On timeout or cancellation the whole process
    /// tree is killed and reaped before returning: a fence command that hangs must not live on beside the database.
    /// </summary>
    private async Task<(int ExitCode, string Output)> RunAsync(string command, (string Name, string Value)[] env, CancellationToken ct)
    {
        var info = new ProcessStartInfo("/bin/sh") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(command);
        foreach (var (name, value) in env)
        {
            info.Environment[name] = value;
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not run '{command}'");
        var stdout = DrainAsync(process.StandardOutput);
        var stderr = DrainAsync(process.StandardError);
        using var deadline = new Deadline(timeout, _time, ct);
        try
        {
            await process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await KillAsync(process).ConfigureAwait(false);
            if (ct.IsCancellationRequested)
            {
                throw;
            }

            return (-1, $"timed out after {Core.Durations.Format(timeout)}; killed");
        }

        // A background grandchild may keep a pipe open after the shell exits: take what has been read, do not wait for it.
        var output = await Finish(stdout).ConfigureAwait(false);
        var error = await Finish(stderr).ConfigureAwait(false);
        return (process.ExitCode, process.ExitCode == 0 || error.Length == 0 ? output : $"{output}{error}");
    }

    /// <summary>Longest output kept from one pipe of one command.</summary>
    public const int MaxCapture = 64 * 1024;

    private static async Task<string> DrainAsync(StreamReader reader)
    {
        var kept = new System.Text.StringBuilder();
        var buffer = new char[4096];
        int read;
        while ((read = await reader.ReadAsync(buffer).ConfigureAwait(false)) > 0)
        {
            kept.Append(buffer, 0, Math.Min(read, MaxCapture - kept.Length));
        }

        return kept.ToString();
    }

    private async Task<string> Finish(Task<string> drain)
    {
        try
        {
            return await drain.WaitAsync(TimeSpan.FromSeconds(1), _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return "";
        }
    }

    private async Task KillAsync(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(5), _time).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or System.ComponentModel.Win32Exception)
        {
            // Already gone, or not reaped in 5 s: nothing more this process can do about it.
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
