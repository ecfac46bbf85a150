using System.Diagnostics;
using System.Globalization;
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
public sealed class ExecDriver(string address, ExecCommands commands, TimeSpan timeout) : IDatabaseDriver
{
    private MemberRole _role = MemberRole.Unknown;
    private bool _fenced;
    private string? _following;

    public string Address => address;

    public async Task<DbProbe> ProbeAsync(CancellationToken ct)
    {
        var (code, _) = await RunAsync(commands.Health, [], ct).ConfigureAwait(false);
        if (code != 0)
        {
            return DbProbe.Down($"health command exited {code}");
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
        var output = process.StandardOutput.ReadToEndAsync(ct);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            process.Kill(entireProcessTree: true);
            return (-1, "timed out");
        }

        return (process.ExitCode, await output.ConfigureAwait(false));
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
