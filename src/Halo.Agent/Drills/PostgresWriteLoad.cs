using System.Collections.Concurrent;
using Halo.Core;
using Npgsql;

namespace Halo.Agent.Drills;

/// <summary>
/// A closed loop of numbered single-row commits (autocommit INSERTs) through one address — a TCP proxy, or a libpq multi-host
/// connection string for peers — counting commits attempted, acknowledged (COMMIT returned) and failed, and afterwards which
/// acknowledged commits are missing on the current primary. Used by drills, tests and the failover bench.
/// </summary>
public sealed class PostgresWriteLoad(Func<CancellationToken, Task<string>> connectionString, string run, TimeProvider? time = null) : IWriteLoad
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    /// <summary>The table every load writes to: (run, id) is the primary key, so several loads can share it.</summary>
    public const string Table = "halo_commits";

    private readonly ConcurrentDictionary<long, byte> _acked = new();
    private readonly WriteHistory _history = new(time ?? TimeProvider.System);
    private long _attempted;
    private long _failed;

    public long Attempted => Interlocked.Read(ref _attempted);
    public long Acked => _acked.Count;
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Time from the failure (a timestamp of the load's clock, TimeProvider.GetTimestamp) to the first acknowledged commit after it.</summary>
    public TimeSpan? RecoveryAfter(long failedAt) => _history.RecoveryAfter(failedAt);

    /// <summary>Creates the table through <paramref name="connection"/> (the primary); idempotent.</summary>
    public static async Task CreateTableAsync(string connection, CancellationToken ct)
    {
        await using var conn = new NpgsqlConnection(connection);
        await conn.OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand($"CREATE TABLE IF NOT EXISTS {Table} (run text NOT NULL, id bigint NOT NULL, at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (run, id))", conn);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    public async Task RunAsync(CancellationToken ct)
    {
        NpgsqlConnection? conn = null;
        long n = 0;
        while (!ct.IsCancellationRequested)
        {
            var started = _time.GetTimestamp();
            var id = ++n;
            Interlocked.Increment(ref _attempted);
            var ok = false;
            try
            {
                if (conn is null)
                {
                    conn = new NpgsqlConnection(await connectionString(ct).ConfigureAwait(false));
                    using var open = new Deadline(TimeSpan.FromSeconds(2), _time, ct);
                    await conn.OpenAsync(open.Token).ConfigureAwait(false);
                }

                using var cts = new Deadline(TimeSpan.FromSeconds(5), _time, ct);
                await using var cmd = new NpgsqlCommand($"INSERT INTO {Table} (run, id) VALUES ($1, $2)", conn) { Parameters = { new() { Value = run }, new() { Value = id } } };
                ok = await cmd.ExecuteNonQueryAsync(cts.Token).ConfigureAwait(false) == 1;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex) when (ex is NpgsqlException or IOException or OperationCanceledException or InvalidOperationException or TimeoutException)
            {
                if (conn is not null)
                {
                    await conn.DisposeAsync().ConfigureAwait(false);
                    conn = null;
                }
            }

            _history.Add(started, _time.GetTimestamp(), ok);
            if (ok)
            {
                _acked[id] = 0;
            }
            else
            {
                Interlocked.Increment(ref _failed);
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(5), TimeProvider.System, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }

        if (conn is not null)
        {
            await conn.DisposeAsync().ConfigureAwait(false);
        }
    }

    public async Task<long> CountLostAsync(CancellationToken ct) => (await LostAsync(ct).ConfigureAwait(false)).Count;

    /// <summary>The ids of acknowledged commits that are missing now (read from the current primary).</summary>
    public async Task<IReadOnlyList<long>> LostAsync(CancellationToken ct)
    {
        await using var conn = new NpgsqlConnection(await connectionString(ct).ConfigureAwait(false));
        await conn.OpenAsync(ct).ConfigureAwait(false);
        var present = new HashSet<long>();
        await using (var cmd = new NpgsqlCommand($"SELECT id FROM {Table} WHERE run = $1", conn) { Parameters = { new() { Value = run } } })
        await using (var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                present.Add(reader.GetInt64(0));
            }
        }

        return _acked.Keys.Where(id => !present.Contains(id)).Order().ToList();
    }
}
