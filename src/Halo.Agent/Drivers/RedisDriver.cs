using System.Diagnostics;
using System.Globalization;
using Halo.Core.Failover;

namespace Halo.Agent.Drivers;

/// <summary>
/// Drives Redis over RESP. Health from PING, role and position from INFO replication, promote with REPLICAOF NO ONE,
/// follow with REPLICAOF host port. Fencing sets min-replicas-to-write impossibly high: every write is refused at once
/// with NOREPLICAS, reads keep working, the data and replication stay untouched, and CONFIG SET undoes it instantly —
/// unlike REPLICAOF to a dead port (which may later connect to whatever binds that port) or CLIENT PAUSE (which makes
/// clients hang instead of fail, and expires on its own).
/// </summary>
/// <param name="advertise">host:port replicas and clients use to reach this database, when not <paramref name="host"/>:<paramref name="port"/>
/// (behind NAT, a container port mapping or a proxy).</param>
/// <param name="auth">Credentials for Redis' AUTH and for replicas' masteruser/masterauth; null when Redis asks for none.</param>
/// <param name="tls">TLS to Redis (pinned CA, optional client certificate); null for plain TCP.</param>
public sealed class RedisDriver(string host, int port, TimeSpan commandTimeout, TimeProvider? time = null, string? advertise = null, RedisAuth? auth = null,
    RedisTls? tls = null) : IDatabaseDriver
{
    public const int FenceValue = int.MaxValue;

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly SemaphoreSlim _fenceGate = new(1, 1);
    private RespConnection? _connection;
    private RespConnection? _fenceConnection;
    private int? _pid;

    public string Address => advertise ?? $"{host}:{port}";

    public string Kind => "redis";

    public async Task<DbProbe> ProbeAsync(CancellationToken ct)
    {
        try
        {
            var reply = await RunAsync(ct, "INFO", "replication").ConfigureAwait(false);
            if (reply is RespError refused)
            {
                // NOAUTH, NOPERM (an ACL without INFO): a database that refuses the probe is not one to count as up.
                return DbProbe.Down("INFO: " + refused.Message);
            }

            var info = reply as string ?? "";
            var fields = Parse(info);
            var fence = await RunAsync(ct, "CONFIG", "GET", "min-replicas-to-write").ConfigureAwait(false) as object?[];
            var fenced = fence is [_, string v] && long.TryParse(v, CultureInfo.InvariantCulture, out var n) && n >= FenceValue;
            var role = fields.GetValueOrDefault("role") switch { "master" => MemberRole.Primary, "slave" => MemberRole.Replica, _ => MemberRole.Unknown };
            var offsetText = role == MemberRole.Replica ? fields.GetValueOrDefault("slave_repl_offset") ?? fields.GetValueOrDefault("master_repl_offset") : fields.GetValueOrDefault("master_repl_offset");
            _ = long.TryParse(offsetText, CultureInfo.InvariantCulture, out var offset);
            var following = role == MemberRole.Replica ? $"{fields.GetValueOrDefault("master_host")}:{fields.GetValueOrDefault("master_port")}" : null;
            var detail = role == MemberRole.Replica ? "link " + fields.GetValueOrDefault("master_link_status") : $"{fields.GetValueOrDefault("connected_slaves")} replicas";
            // A replica that is loading a full sync, or has never completed one (link_down_since -1, e.g. just restarted
            // empty), reports an offset it does not hold: it must never be chosen as a candidate.
            var healthy = role != MemberRole.Replica ||
                (fields.GetValueOrDefault("master_sync_in_progress") != "1" && fields.GetValueOrDefault("master_link_down_since_seconds") != "-1");
            return new DbProbe(true, healthy, role, offset, fenced, following, _pid, healthy ? detail : detail + ", not synced");
        }
        catch (OperationCanceledException ex) when (!ct.IsCancellationRequested)
        {
            return DbProbe.Down($"no answer within {commandTimeout.TotalMilliseconds:0} ms: {ex.Message}") with { TimedOut = true };
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or InvalidOperationException)
        {
            return DbProbe.Down(ex.Message);
        }
    }

    public async Task PromoteAsync(int minReplicasToWrite, CancellationToken ct)
    {
        // Write safety first, then the role: the database never accepts a write under weaker rules than the policy's.
        await RequireOkAsync(ct, "CONFIG", "SET", "min-replicas-to-write", minReplicasToWrite.ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
        await RequireOkAsync(ct, "REPLICAOF", "NO", "ONE").ConfigureAwait(false);
    }

    public async Task FollowAsync(string primaryHost, int primaryPort, CancellationToken ct)
    {
        if (auth is not null)
        {
            // A replica authenticates to its primary with the same credentials; set each time, so a replaced password holds.
            if (auth.User is not null)
            {
                await RequireOkAsync(ct, "CONFIG", "SET", "masteruser", auth.User).ConfigureAwait(false);
            }

            await RequireOkAsync(ct, "CONFIG", "SET", "masterauth", auth.Password).ConfigureAwait(false);
        }

        await RequireOkAsync(ct, "REPLICAOF", primaryHost, primaryPort.ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
        // A replica refuses writes anyway; clearing the fence keeps a later promotion from inheriting it.
        await RequireOkAsync(ct, "CONFIG", "SET", "min-replicas-to-write", "0").ConfigureAwait(false);
    }

    /// <summary>
    /// Fences on a connection of its own, so the fence never waits behind a probe on the shared one: the fencing deadline
    /// (<see cref="FencingTiming.FenceCommandBudget"/>) is short, and a fence that misses it gets the database killed instead.
    /// </summary>
    public async Task FenceAsync(CancellationToken ct)
    {
        await _fenceGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            _fenceConnection ??= await RespConnection.ConnectAsync(host, port, commandTimeout, time ?? TimeProvider.System, auth, tls, ct).ConfigureAwait(false);
            if (await _fenceConnection.ExecuteAsync(commandTimeout, ct, "CONFIG", "SET", "min-replicas-to-write", FenceValue.ToString(CultureInfo.InvariantCulture))
                    .ConfigureAwait(false) is RespError error)
            {
                throw new InvalidOperationException($"CONFIG SET: {error.Message}");
            }
        }
        catch
        {
            if (_fenceConnection is not null)
            {
                await _fenceConnection.DisposeAsync().ConfigureAwait(false);
                _fenceConnection = null;
            }

            throw;
        }
        finally
        {
            _fenceGate.Release();
        }
    }

    public async Task<bool> KillAsync(CancellationToken ct)
    {
        if (_pid is not { } pid)
        {
            await ProbeAsync(ct).ConfigureAwait(false);
        }

        if (_pid is not { } known)
        {
            return false;
        }

        try
        {
            using var process = Process.GetProcessById(known);
            process.Kill();
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private async Task RequireOkAsync(CancellationToken ct, params string[] args)
    {
        if (await RunAsync(ct, args).ConfigureAwait(false) is RespError error)
        {
            throw new InvalidOperationException($"{string.Join(' ', args.Take(2))}: {error.Message}");
        }
    }

    /// <summary>Runs one command on the shared connection, reconnecting once per call; a failure drops the connection.</summary>
    private async Task<object?> RunAsync(CancellationToken ct, params string[] args)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_connection is null)
            {
                _connection = await RespConnection.ConnectAsync(host, port, commandTimeout, time ?? TimeProvider.System, auth, tls, ct).ConfigureAwait(false);
                var server = await _connection.ExecuteAsync(commandTimeout, ct, "INFO", "server").ConfigureAwait(false) as string ?? "";
                _pid = int.TryParse(Parse(server).GetValueOrDefault("process_id"), CultureInfo.InvariantCulture, out var pid) ? pid : null;
            }

            return await _connection.ExecuteAsync(commandTimeout, ct, args).ConfigureAwait(false);
        }
        catch
        {
            if (_connection is not null)
            {
                await _connection.DisposeAsync().ConfigureAwait(false);
                _connection = null;
            }

            throw;
        }
        finally
        {
            _gate.Release();
        }
    }

    private static Dictionary<string, string> Parse(string info) =>
        info.Split('\n').Select(l => l.TrimEnd('\r').Split(':', 2)).Where(p => p.Length == 2).GroupBy(p => p[0]).ToDictionary(g => g.Key, g => g.First()[1]);

    public async ValueTask DisposeAsync()
    {
        if (_connection is not null)
        {
            await _connection.DisposeAsync().ConfigureAwait(false);
        }

        if (_fenceConnection is not null)
        {
            await _fenceConnection.DisposeAsync().ConfigureAwait(false);
        }

        _gate.Dispose();
        _fenceGate.Dispose();
    }
}
