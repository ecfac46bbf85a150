using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Halo.Store.Embedded;

/// <summary>
/// The writer's prepared statements, compiled once and rebound per row: the hot path of every commit. They run on SQLite's
/// own statement handles (SQLitePCL, which Microsoft.Data.Sqlite wraps) instead of SqliteCommand: a registration writes
/// four rows and checks one, and SqliteCommand adds its per-call work to each (state checks, a data reader per row,
/// parameter type inference); the transaction's statements were ~9.6 % of a registration's server CPU, profiled (with the
/// feed follower's change of the same session: −8 %/−9 % server CPU per registration, docs/performance.md session 10).
/// Same SQL, same transaction (the connection's), same errors (SqliteException).
/// </summary>
internal sealed class KvStatements : IDisposable
{
    private readonly sqlite3 _db;
    private readonly sqlite3_stmt _get;
    private readonly sqlite3_stmt _revisions;
    private readonly sqlite3_stmt _put;
    private readonly sqlite3_stmt _delete;
    private readonly sqlite3_stmt _change;
    private readonly sqlite3_stmt _setMeta;
    private readonly List<sqlite3_stmt> _all = [];
    private SqliteTransaction? _transaction;

    public KvStatements(SqliteConnection connection)
    {
        Connection = connection;
        _db = connection.Handle ?? throw new InvalidOperationException("the writer's connection must be open");
        _get = Prepare("SELECT key, value, create_rev, mod_rev, version, lease FROM kv WHERE key = ?1");
        // A compare on revisions or version needs no value: reading it would copy a record per check.
        _revisions = Prepare("SELECT create_rev, mod_rev, version FROM kv WHERE key = ?1");
        // One statement per put instead of read-then-write: the hot path of every durable write.
        _put = Prepare(
            "INSERT INTO kv(key, value, create_rev, mod_rev, version, lease) VALUES (?1, ?2, ?3, ?3, 1, ?4) "
            + "ON CONFLICT(key) DO UPDATE SET value = excluded.value, mod_rev = excluded.mod_rev, version = version + 1, lease = excluded.lease "
            + "RETURNING create_rev, version");
        _delete = Prepare("DELETE FROM kv WHERE key = ?1");
        _change = Prepare(
            "INSERT INTO changes(rev, seq, key, type, value, create_rev, mod_rev, version, lease) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
        _setMeta = Prepare("INSERT OR REPLACE INTO meta(name, value) VALUES (?1, ?2)");
    }

    public SqliteConnection Connection { get; }

    /// <summary>The batch's transaction, for the rare statements that still go through SqliteCommand (<see cref="Keys"/>, <see cref="Execute"/>).</summary>
    public SqliteTransaction? Transaction
    {
        set => _transaction = value;
    }

    public KeyValue? Get(byte[] key)
    {
        BindBlob(_get, 1, key);
        try
        {
            return Step(_get) ? new KeyValue(
                KeyRange.FromBytes(raw.sqlite3_column_blob(_get, 0).ToArray()),
                raw.sqlite3_column_blob(_get, 1).ToArray(),
                raw.sqlite3_column_int64(_get, 2),
                raw.sqlite3_column_int64(_get, 3),
                raw.sqlite3_column_int64(_get, 4),
                raw.sqlite3_column_int64(_get, 5)) : null;
        }
        finally
        {
            Reset(_get);
        }
    }

    /// <summary>A key's create revision, mod revision and version, all 0 when it does not exist (as etcd compares them).</summary>
    public (long CreateRevision, long ModRevision, long Version) Revisions(byte[] key)
    {
        BindBlob(_revisions, 1, key);
        try
        {
            return Step(_revisions)
                ? (raw.sqlite3_column_int64(_revisions, 0), raw.sqlite3_column_int64(_revisions, 1), raw.sqlite3_column_int64(_revisions, 2))
                : (0, 0, 0);
        }
        finally
        {
            Reset(_revisions);
        }
    }

    /// <summary>Creates or updates a key at <paramref name="revision"/>; returns its create revision and new version.</summary>
    public (long CreateRevision, long Version) Put(byte[] key, ReadOnlyMemory<byte> value, long revision, long leaseId)
    {
        BindBlob(_put, 1, key);
        BindBlob(_put, 2, value.Span);
        raw.sqlite3_bind_int64(_put, 3, revision);
        raw.sqlite3_bind_int64(_put, 4, leaseId);
        try
        {
            Step(_put);
            return (raw.sqlite3_column_int64(_put, 0), raw.sqlite3_column_int64(_put, 1));
        }
        finally
        {
            Reset(_put);
        }
    }

    public void Delete(byte[] key)
    {
        BindBlob(_delete, 1, key);
        Run(_delete);
    }

    public void AppendChange(in ChangeRecord change, byte[] key)
    {
        var item = change.Event.Item;
        raw.sqlite3_bind_int64(_change, 1, change.Revision);
        raw.sqlite3_bind_int64(_change, 2, change.Sequence);
        BindBlob(_change, 3, key);
        raw.sqlite3_bind_int(_change, 4, (int)change.Event.Type);
        BindBlob(_change, 5, item.Value.Span);
        raw.sqlite3_bind_int64(_change, 6, item.CreateRevision);
        raw.sqlite3_bind_int64(_change, 7, item.ModRevision);
        raw.sqlite3_bind_int64(_change, 8, item.Version);
        raw.sqlite3_bind_int64(_change, 9, item.LeaseId);
        Run(_change);
    }

    public void SetMeta(string name, long value)
    {
        raw.sqlite3_bind_text(_setMeta, 1, name);
        raw.sqlite3_bind_int64(_setMeta, 2, value);
        Run(_setMeta);
    }

    /// <summary>Keys of a prefix (or of one lease) in key order, for deletes that fan out.</summary>
    public List<byte[]> Keys(string? prefix, long leaseId = 0)
    {
        using var command = Connection.CreateCommand();
        command.Transaction = _transaction;
        if (prefix is null)
        {
            command.CommandText = "SELECT key FROM kv WHERE lease = $lease ORDER BY key";
            command.Parameters.AddWithValue("$lease", leaseId);
        }
        else
        {
            command.CommandText = "SELECT key FROM kv WHERE " + StoreReader.BindRange(command, prefix) + " ORDER BY key";
        }

        var keys = new List<byte[]>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            keys.Add((byte[])reader.GetValue(0));
        }

        return keys;
    }

    public void Execute(string sql, params (string Name, object Value)[] parameters)
    {
        using var command = Connection.CreateCommand();
        command.Transaction = _transaction;
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        command.ExecuteNonQuery();
    }

    public void Dispose()
    {
        foreach (var statement in _all)
        {
            statement.Dispose();
        }

        Connection.Dispose();
    }

    // A zero-length span would bind NULL (no pointer to hand over); keys and values are NOT NULL, and a delete's value is empty
    // (a zero-length blob, as SqliteCommand bound an empty array).
    private static void BindBlob(sqlite3_stmt statement, int index, ReadOnlySpan<byte> value)
    {
        if (value.IsEmpty)
        {
            raw.sqlite3_bind_zeroblob(statement, index, 0);
        }
        else
        {
            raw.sqlite3_bind_blob(statement, index, value);
        }
    }

    /// <summary>Steps once: true on a row, false when done; an error becomes the SqliteException SqliteCommand would throw.</summary>
    private bool Step(sqlite3_stmt statement)
    {
        var rc = raw.sqlite3_step(statement);
        if (rc == raw.SQLITE_ROW)
        {
            return true;
        }

        if (rc != raw.SQLITE_DONE)
        {
            // Read the message before the reset clears it.
            SqliteException.ThrowExceptionForRC(rc, _db);
        }

        return false;
    }

    private void Run(sqlite3_stmt statement)
    {
        try
        {
            Step(statement);
        }
        finally
        {
            Reset(statement);
        }
    }

    // Reset after every use: a statement left mid-step holds its read open, and COMMIT would then fail as "in progress".
    private static void Reset(sqlite3_stmt statement)
    {
        raw.sqlite3_reset(statement);
    }

    private sqlite3_stmt Prepare(string sql)
    {
        var rc = raw.sqlite3_prepare_v2(_db, sql, out var statement);
        if (rc != raw.SQLITE_OK || statement is null)
        {
            statement?.Dispose();
            SqliteException.ThrowExceptionForRC(rc, _db);
            throw new InvalidOperationException("SQLite prepared no statement for: " + sql);
        }

        _all.Add(statement);
        return statement;
    }
}
