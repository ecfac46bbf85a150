using Halo.Core;
using Npgsql;

namespace Halo.Agent.Drills;

/// <summary>
/// Numbered single-row commits (autocommit INSERTs) through one address — a TCP proxy, or a libpq multi-host connection string
/// for peers; acknowledged means COMMIT returned. See <see cref="WriteLoad{TConnection}"/>. Used by drills, tests and the
/// failover bench.
/// </summary>
public sealed class PostgresWriteLoad(Func<CancellationToken, Task<string>> connectionString, string run, TimeProvider? time = null)
    : WriteLoad<NpgsqlConnection>(time)
{
    /// <summary>The table every load writes to: (run, id) is the primary key, so several loads can share it.</summary>
    public const string Table = "halo_commits";

    /// <summary>Creates the table through <paramref name="connection"/> (the primary); idempotent.</summary>
    public static async Task CreateTableAsync(string connection, CancellationToken ct)
    {
        await using var conn = new NpgsqlConnection(connection);
        await conn.OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand($"CREATE TABLE IF NOT EXISTS {Table} (run text NOT NULL, id bigint NOT NULL, at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (run, id))", conn);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    protected override async Task<NpgsqlConnection> ConnectAsync(CancellationToken ct)
    {
        var conn = new NpgsqlConnection(await connectionString(ct).ConfigureAwait(false));
        try
        {
            using var open = new Deadline(TimeSpan.FromSeconds(2), Time, ct);
            await conn.OpenAsync(open.Token).ConfigureAwait(false);
            return conn;
        }
        catch
        {
            await conn.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    protected override async Task<bool> WriteAsync(NpgsqlConnection connection, long id, CancellationToken ct)
    {
        using var deadline = new Deadline(TimeSpan.FromSeconds(5), Time, ct);
        await using var cmd = new NpgsqlCommand($"INSERT INTO {Table} (run, id) VALUES ($1, $2)", connection) { Parameters = { new() { Value = run }, new() { Value = id } } };
        return await cmd.ExecuteNonQueryAsync(deadline.Token).ConfigureAwait(false) == 1;
    }

    protected override bool IsWriteFailure(Exception ex) =>
        ex is NpgsqlException or IOException or OperationCanceledException or InvalidOperationException or TimeoutException;

    protected override async Task<IReadOnlyList<long>> MissingAsync(IReadOnlyList<long> acked, CancellationToken ct)
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

        return acked.Where(id => !present.Contains(id)).ToList();
    }
}
