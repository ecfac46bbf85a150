using Halo.Core;
using System.Diagnostics;
using System.Globalization;
using Halo.Core.Failover;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Halo.Agent.Drivers;

/// <summary>
/// Drives PostgreSQL 15 over Npgsql. Position: pg_current_wal_lsn() on a primary, the newer of pg_last_wal_receive_lsn() (WAL
/// received and flushed — what a synchronous commit waited for) and pg_last_wal_replay_lsn() on a standby, as a 64-bit LSN.
/// Promote: pg_promote(wait => true). Follow: primary_conninfo by ALTER SYSTEM and a reload (PostgreSQL 13+ re-reads it without a
/// restart and follows the new timeline); a running primary becomes a standby only through a restart with pg_rewind (managed mode).
/// Fence: default_transaction_read_only by ALTER SYSTEM and a reload, checked on a fresh session, then every client session
/// terminated and awaited — tens of milliseconds, data and role untouched, undone by promote (docs/postgres.md, "Fencing").
/// </summary>
public sealed class PostgresDriver(string host, int port, string member, Func<PostgresSecrets> secrets, TimeSpan commandTimeout, ILogger logger, ManagedPostgres? managed = null)
    : IDatabaseDriver
{
    private const string ProbeSql = """
        SELECT r,
               CASE WHEN r THEN NULL ELSE (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint END,
               (pg_last_wal_receive_lsn() - '0/0'::pg_lsn)::bigint,
               (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint,
               current_setting('default_transaction_read_only'),
               current_setting('synchronous_standby_names'),
               current_setting('primary_conninfo'),
               (SELECT status FROM pg_stat_wal_receiver),
               (SELECT received_tli FROM pg_stat_wal_receiver),
               CASE WHEN r THEN (SELECT timeline_id FROM pg_control_checkpoint())
                    ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END,
               (SELECT string_agg(application_name, ',' ORDER BY application_name) FROM pg_stat_replication WHERE state = 'streaming'),
               pg_backend_pid()
        FROM pg_is_in_recovery() AS r
        """;

    private readonly SemaphoreSlim _gate = new(1, 1);
    private NpgsqlConnection? _connection;
    private int? _postmasterPid;
    private long _timeline;

    public string Address => $"{host}:{port}";

    public string Kind => "postgres";

    public async Task<DbProbe> ProbeAsync(CancellationToken ct)
    {
        if (managed is { Busy: true })
        {
            return DbProbe.Down(managed.Activity ?? "preparing the database");
        }

        if (managed is { Empty: true })
        {
            return DbProbe.Down("no database yet (empty data directory): waiting to be elected to initialise it, or for a primary to copy") with { Bootstrappable = true };
        }

        if (managed is { Started: true, Running: false })
        {
            return DbProbe.Down("postgres is not running" + (managed.LastError is { } e ? ": " + e : ""));
        }

        try
        {
            return await RunAsync(async (conn, token) =>
            {
                await using var cmd = new NpgsqlCommand(ProbeSql, conn);
                await using var reader = await cmd.ExecuteReaderAsync(token).ConfigureAwait(false);
                await reader.ReadAsync(token).ConfigureAwait(false);
                var recovery = reader.GetBoolean(0);
                long? Long(int i) => reader.IsDBNull(i) ? null : Convert.ToInt64(reader.GetValue(i), CultureInfo.InvariantCulture);
                string? Text(int i) => reader.IsDBNull(i) ? null : reader.GetString(i);
                var role = recovery ? MemberRole.Replica : MemberRole.Primary;
                var offset = recovery ? Math.Max(Long(2) ?? 0, Long(3) ?? 0) : Long(1) ?? 0;
                // A standby's timeline: the one it last received, else its last restartpoint's; never going backwards on one server.
                _timeline = Math.Max(_timeline, recovery ? Long(8) ?? Long(9) ?? 0 : Long(9) ?? 0);
                var walReceiver = Text(7);
                var following = recovery && PostgresConfig.HostPort(Text(6)) is var (h, p) ? $"{h}:{p}" : null;
                var streaming = Text(10)?.Split(',') ?? [];
                _postmasterPid ??= managed?.Pid ?? ParentOf(reader.GetInt32(11));
                var diverged = managed?.Diverged == true;
                var detail = recovery
                    ? (walReceiver == "streaming" ? $"streaming from {following}" : $"not streaming ({walReceiver ?? "no WAL receiver"})") +
                      (diverged ? ", diverged: needs pg_rewind" : "") + (managed?.LastError is { } err && walReceiver != "streaming" ? $": {err}" : "")
                    : $"{streaming.Length} standbys streaming; synchronous_standby_names '{Text(5)}'";
                return new DbProbe(true, !diverged, role, offset, !recovery && Text(4) == "on", diverged ? null : following, _postmasterPid, detail,
                    _timeline, recovery ? null : Text(5), recovery ? null : streaming);
            }, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is NpgsqlException or IOException or InvalidOperationException || (ex is OperationCanceledException && !ct.IsCancellationRequested))
        {
            return DbProbe.Down(ex.Message);
        }
    }

    public async Task PromoteAsync(int minReplicasToWrite, CancellationToken ct)
    {
        await RunAsync(async (conn, token) =>
        {
            if (await ScalarAsync<bool>(conn, "SELECT pg_is_in_recovery()", token).ConfigureAwait(false) &&
                !await ScalarAsync<bool>(conn, "SELECT pg_promote(true, 60)", token).ConfigureAwait(false))
            {
                throw new InvalidOperationException("pg_promote did not finish within 60 s");
            }

            await ExecuteAsync(conn, "ALTER SYSTEM RESET default_transaction_read_only", token).ConfigureAwait(false);
            await ExecuteAsync(conn, "SELECT pg_reload_conf()", token).ConfigureAwait(false);
            return 0;
        }, ct, TimeSpan.FromSeconds(65)).ConfigureAwait(false);
    }

    public async Task FollowAsync(string primaryHost, int primaryPort, CancellationToken ct)
    {
        var recovery = await RunAsync((conn, token) => ScalarAsync<bool>(conn, "SELECT pg_is_in_recovery()", token), ct).ConfigureAwait(false);
        if (!recovery || managed?.Diverged == true)
        {
            // A primary (or a standby ahead of the new primary's history) becomes a standby only through a restart and a rewind.
            if (managed is null)
            {
                throw new InvalidOperationException("a running primary becomes a standby only through a restart: run the agent in managed mode (--postgres-data)");
            }

            await DropConnectionAsync().ConfigureAwait(false);
            managed.BeginRejoin(primaryHost, primaryPort, ct);
            return;
        }

        var conninfo = PostgresConfig.PrimaryConninfo(primaryHost, primaryPort, member, secrets().Replication);
        await RunAsync(async (conn, token) =>
        {
            await ExecuteAsync(conn, $"ALTER SYSTEM SET primary_conninfo = '{Sql(conninfo)}'", token).ConfigureAwait(false);
            await ExecuteAsync(conn, "SELECT pg_reload_conf()", token).ConfigureAwait(false);
            return 0;
        }, ct).ConfigureAwait(false);
    }

    public async Task FenceAsync(CancellationToken ct)
    {
        var started = TimeProvider.System.GetTimestamp();
        await RunAsync(async (conn, token) =>
        {
            if (await ScalarAsync<bool>(conn, "SELECT pg_is_in_recovery()", token).ConfigureAwait(false))
            {
                return 0; // a standby takes no writes
            }

            await ExecuteAsync(conn, "ALTER SYSTEM SET default_transaction_read_only = on", token).ConfigureAwait(false);
            await ExecuteAsync(conn, "SELECT pg_reload_conf()", token).ConfigureAwait(false);
            // A new session forks from the postmaster: once one sees the setting, every later one does. Earlier ones are ended below.
            while (true)
            {
                await using var fresh = new NpgsqlConnection(ConnectionString());
                await fresh.OpenAsync(token).ConfigureAwait(false);
                if (await ScalarAsync<string>(fresh, "SHOW default_transaction_read_only", token).ConfigureAwait(false) == "on")
                {
                    break;
                }

                await Task.Delay(TimeSpan.FromMilliseconds(2), TimeProvider.System, token).ConfigureAwait(false);
            }

            const string Sessions = "FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()";
            await ExecuteAsync(conn, $"SELECT pg_terminate_backend(pid) {Sessions}", token).ConfigureAwait(false);
            // Terminated sessions are gone only when they have exited: until then one could still acknowledge a commit.
            while (await ScalarAsync<long>(conn, $"SELECT count(*) {Sessions}", token).ConfigureAwait(false) > 0)
            {
                await ExecuteAsync(conn, $"SELECT pg_terminate_backend(pid) {Sessions}", token).ConfigureAwait(false);
                await Task.Delay(TimeSpan.FromMilliseconds(2), TimeProvider.System, token).ConfigureAwait(false);
            }

            return 0;
        }, ct).ConfigureAwait(false);
        PostgresLog.FenceTook(logger, member, "default_transaction_read_only + terminated sessions", TimeProvider.System.GetElapsedTime(started).TotalMilliseconds);
    }

    public Task ConfigureSynchronousAsync(string standbyNames, CancellationToken ct) => RunAsync(async (conn, token) =>
    {
        await ExecuteAsync(conn, standbyNames.Length == 0 ? "ALTER SYSTEM RESET synchronous_standby_names" : $"ALTER SYSTEM SET synchronous_standby_names = '{Sql(standbyNames)}'", token).ConfigureAwait(false);
        await ExecuteAsync(conn, "SELECT pg_reload_conf()", token).ConfigureAwait(false);
        return 0;
    }, ct);

    public Task<bool> KillAsync(CancellationToken ct)
    {
        if (managed is not null)
        {
            return Task.FromResult(managed.Kill());
        }

        if (_postmasterPid is not { } pid)
        {
            return Task.FromResult(false);
        }

        try
        {
            using var process = Process.GetProcessById(pid);
            process.Kill();
            return Task.FromResult(true);
        }
        catch (ArgumentException)
        {
            return Task.FromResult(false);
        }
    }

    private string ConnectionString() => managed?.Connection(host, port) ?? new NpgsqlConnectionStringBuilder
    {
        Host = host, Port = port, Username = PostgresSecrets.SuperuserName, Password = secrets().Superuser, Database = "postgres",
        ApplicationName = "halo-agent", Pooling = false, Timeout = 2, CancellationTimeout = -1,
    }.ConnectionString;

    /// <summary>Runs on the shared connection with a hard timeout, reconnecting when needed; any failure drops the connection.</summary>
    private async Task<T> RunAsync<T>(Func<NpgsqlConnection, CancellationToken, Task<T>> work, CancellationToken ct, TimeSpan? timeout = null)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            using var cts = new Deadline(timeout ?? commandTimeout, TimeProvider.System, ct);
            if (_connection is null)
            {
                var conn = new NpgsqlConnection(ConnectionString());
                try
                {
                    await conn.OpenAsync(cts.Token).ConfigureAwait(false);
                }
                catch
                {
                    await conn.DisposeAsync().ConfigureAwait(false);
                    throw;
                }

                _connection = conn;
                _postmasterPid = null;
            }

            return await work(_connection, cts.Token).ConfigureAwait(false);
        }
        catch
        {
            await DropLockedAsync().ConfigureAwait(false);
            throw;
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task DropConnectionAsync()
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            await DropLockedAsync().ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task DropLockedAsync()
    {
        if (_connection is not null)
        {
            await _connection.DisposeAsync().ConfigureAwait(false);
            _connection = null;
        }
    }

    private static async Task ExecuteAsync(NpgsqlConnection conn, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection conn, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        return (T)Convert.ChangeType((await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!, typeof(T), CultureInfo.InvariantCulture);
    }

    /// <summary>The postmaster is the parent of every backend: found through /proc when the server is on this machine.</summary>
    private static int? ParentOf(int backendPid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{backendPid}/stat");
            return int.TryParse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], CultureInfo.InvariantCulture, out var ppid) ? ppid : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static string Sql(string value) => value.Replace("'", "''", StringComparison.Ordinal);

    public async ValueTask DisposeAsync()
    {
        await DropConnectionAsync().ConfigureAwait(false);
        _gate.Dispose();
    }
}
