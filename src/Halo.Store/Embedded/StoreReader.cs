using Microsoft.Data.Sqlite;

namespace Halo.Store.Embedded;

/// <summary>
/// Reads on pooled read-only connections. Each read runs in one transaction so that the rows and the
/// revision it reports come from the same WAL snapshot, never from two different commits.
/// </summary>
internal sealed class StoreReader(string connectionString) : IDisposable
{
    public const int ChangePageSize = 1000;

    public GetResult Get(string key)
    {
        using var connection = Open();
        using var transaction = connection.BeginTransaction(deferred: true);
        var revision = StoreSchema.ReadMeta(connection, "revision", transaction);
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT key, value, create_rev, mod_rev, version, lease FROM kv WHERE key = $key";
        command.Parameters.AddWithValue("$key", KeyRange.ToBytes(key));
        using var reader = command.ExecuteReader();
        return new GetResult(reader.Read() ? ReadKeyValue(reader) : null, revision);
    }

    public RangeResult List(string prefix)
    {
        using var connection = Open();
        using var transaction = connection.BeginTransaction(deferred: true);
        var revision = StoreSchema.ReadMeta(connection, "revision", transaction);
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT key, value, create_rev, mod_rev, version, lease FROM kv WHERE "
            + BindRange(command, prefix) + " ORDER BY key";
        var items = new List<KeyValue>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            items.Add(ReadKeyValue(reader));
        }

        return new RangeResult(items, revision);
    }

    /// <summary>
    /// Up to one page of changes under <paramref name="prefix"/> after the given log position.
    /// Throws <see cref="RevisionCompactedException"/> when the position is older than the retained history,
    /// checked in the same snapshot as the rows so that compaction cannot open a silent gap.
    /// </summary>
    public List<ChangeRecord> ReadChanges(string prefix, long afterRevision, int afterSequence)
    {
        using var connection = Open();
        using var transaction = connection.BeginTransaction(deferred: true);
        var compacted = StoreSchema.ReadMeta(connection, "compact_revision", transaction);
        if (afterRevision < compacted)
        {
            throw new RevisionCompactedException(afterRevision + 1, compacted);
        }

        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT rev, seq, key, type, value, create_rev, mod_rev, version, lease FROM changes "
            + "WHERE (rev, seq) > ($rev, $seq) AND " + BindRange(command, prefix)
            + " ORDER BY rev, seq LIMIT " + ChangePageSize.ToString(System.Globalization.CultureInfo.InvariantCulture);
        command.Parameters.AddWithValue("$rev", afterRevision);
        command.Parameters.AddWithValue("$seq", afterSequence);
        var changes = new List<ChangeRecord>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            var type = (WatchEventType)reader.GetInt32(3);
            var item = new KeyValue(
                KeyRange.FromBytes((byte[])reader.GetValue(2)),
                (byte[])reader.GetValue(4),
                reader.GetInt64(5),
                reader.GetInt64(6),
                reader.GetInt64(7),
                reader.GetInt64(8));
            changes.Add(new ChangeRecord(reader.GetInt64(0), reader.GetInt32(1), new WatchEvent(type, item)));
        }

        return changes;
    }

    public static KeyValue ReadKeyValue(SqliteDataReader reader) => new(
        KeyRange.FromBytes((byte[])reader.GetValue(0)),
        (byte[])reader.GetValue(1),
        reader.GetInt64(2),
        reader.GetInt64(3),
        reader.GetInt64(4),
        reader.GetInt64(5));

    /// <summary>Adds the byte range of <paramref name="prefix"/> as parameters and returns the WHERE fragment.</summary>
    public static string BindRange(SqliteCommand command, string prefix)
    {
        var start = KeyRange.ToBytes(prefix);
        var end = KeyRange.PrefixEnd(start);
        command.Parameters.AddWithValue("$start", start);
        if (end is null)
        {
            return "key >= $start";
        }

        command.Parameters.AddWithValue("$end", end);
        return "key >= $start AND key < $end";
    }

    /// <summary>Closes the pooled read connections so the files are released when the store closes.</summary>
    public void Dispose()
    {
        using var connection = new SqliteConnection(connectionString);
        SqliteConnection.ClearPool(connection);
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(connectionString);
        connection.Open();
        return connection;
    }
}
