using System.Runtime.InteropServices;
using Microsoft.Data.Sqlite;

namespace Halo.Store.Embedded;

/// <summary>The writer's prepared statements, compiled once and rebound per row: the hot path of every commit.</summary>
internal sealed class KvStatements : IDisposable
{
    private readonly SqliteCommand _get;
    private readonly SqliteCommand _put;
    private readonly SqliteCommand _delete;
    private readonly SqliteCommand _change;
    private readonly SqliteCommand _setMeta;
    private readonly List<SqliteCommand> _all = [];

    public KvStatements(SqliteConnection connection)
    {
        Connection = connection;
        _get = Create("SELECT key, value, create_rev, mod_rev, version, lease FROM kv WHERE key = $key", "$key");
        // One statement per put instead of read-then-write: the hot path of every durable write.
        _put = Create(
            "INSERT INTO kv(key, value, create_rev, mod_rev, version, lease) VALUES ($key, $value, $rev, $rev, 1, $l) "
            + "ON CONFLICT(key) DO UPDATE SET value = excluded.value, mod_rev = excluded.mod_rev, version = version + 1, lease = excluded.lease "
            + "RETURNING create_rev, version",
            "$key", "$value", "$rev", "$l");
        _delete = Create("DELETE FROM kv WHERE key = $key", "$key");
        _change = Create(
            "INSERT INTO changes(rev, seq, key, type, value, create_rev, mod_rev, version, lease) VALUES ($r, $s, $key, $t, $value, $c, $m, $v, $l)",
            "$r", "$s", "$key", "$t", "$value", "$c", "$m", "$v", "$l");
        _setMeta = Create("INSERT OR REPLACE INTO meta(name, value) VALUES ($name, $value)", "$name", "$value");
    }

    public SqliteConnection Connection { get; }

    public SqliteTransaction? Transaction
    {
        set
        {
            foreach (var command in _all)
            {
                command.Transaction = value;
            }
        }
    }

    public KeyValue? Get(byte[] key)
    {
        _get.Parameters[0].Value = key;
        using var reader = _get.ExecuteReader();
        return reader.Read() ? StoreReader.ReadKeyValue(reader) : null;
    }

    /// <summary>Creates or updates a key at <paramref name="revision"/>; returns its create revision and new version.</summary>
    public (long CreateRevision, long Version) Put(byte[] key, ReadOnlyMemory<byte> value, long revision, long leaseId)
    {
        var p = _put.Parameters;
        p[0].Value = key;
        p[1].Value = AsArray(value);
        p[2].Value = revision;
        p[3].Value = leaseId;
        using var reader = _put.ExecuteReader();
        reader.Read();
        return (reader.GetInt64(0), reader.GetInt64(1));
    }

    public void Delete(byte[] key)
    {
        _delete.Parameters[0].Value = key;
        _delete.ExecuteNonQuery();
    }

    public void AppendChange(in ChangeRecord change, byte[] key)
    {
        var item = change.Event.Item;
        _change.Parameters[0].Value = change.Revision;
        _change.Parameters[1].Value = change.Sequence;
        _change.Parameters[3].Value = (int)change.Event.Type;
        Bind(_change, key, item);
        _change.ExecuteNonQuery();
    }

    public void SetMeta(string name, long value)
    {
        _setMeta.Parameters[0].Value = name;
        _setMeta.Parameters[1].Value = value;
        _setMeta.ExecuteNonQuery();
    }

    /// <summary>Keys of a prefix (or of one lease) in key order, for deletes that fan out.</summary>
    public List<byte[]> Keys(string? prefix, long leaseId = 0)
    {
        using var command = Connection.CreateCommand();
        command.Transaction = _get.Transaction;
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
        command.Transaction = _get.Transaction;
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        command.ExecuteNonQuery();
    }

    public void Dispose()
    {
        foreach (var command in _all)
        {
            command.Dispose();
        }

        Connection.Dispose();
    }

    // Parameter layout of the changes insert: rev, seq, key, type, value, create, mod, version, lease.
    private static void Bind(SqliteCommand command, byte[] key, KeyValue item)
    {
        const int keyIndex = 2, valueIndex = 4;
        var p = command.Parameters;
        p[keyIndex].Value = key;
        p[valueIndex].Value = AsArray(item.Value);
        p[valueIndex + 1].Value = item.CreateRevision;
        p[valueIndex + 2].Value = item.ModRevision;
        p[valueIndex + 3].Value = item.Version;
        p[valueIndex + 4].Value = item.LeaseId;
    }

    private static byte[] AsArray(ReadOnlyMemory<byte> value) =>
        MemoryMarshal.TryGetArray(value, out var segment) && segment.Offset == 0 && segment.Count == segment.Array!.Length
            ? segment.Array
            : value.ToArray();

    private SqliteCommand Create(string sql, params string[] parameters)
    {
        var command = Connection.CreateCommand();
        command.CommandText = sql;
        foreach (var name in parameters)
        {
            command.Parameters.Add(new SqliteParameter(name, null));
        }

        _all.Add(command);
        return command;
    }
}
