using Microsoft.Data.Sqlite;

namespace Halo.Store.Embedded;

/// <summary>The on-disk layout of the embedded store and the connection settings that make it durable.</summary>
internal static class StoreSchema
{
    public const string FileName = "halo-store.db";

    // Keys are BLOBs so that ordering and prefix ranges are by UTF-8 bytes, exactly as in etcd.
    // WITHOUT ROWID keeps kv and changes clustered on the columns they are read by.
    private const string CreateTables = """
        CREATE TABLE IF NOT EXISTS kv (
            key BLOB PRIMARY KEY, value BLOB NOT NULL,
            create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL, version INTEGER NOT NULL, lease INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS kv_lease ON kv(lease) WHERE lease <> 0;
        CREATE TABLE IF NOT EXISTS changes (
            rev INTEGER NOT NULL, seq INTEGER NOT NULL, key BLOB NOT NULL, type INTEGER NOT NULL, value BLOB NOT NULL,
            create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL, version INTEGER NOT NULL, lease INTEGER NOT NULL,
            PRIMARY KEY (rev, seq)
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS leases (id INTEGER PRIMARY KEY, ttl_seconds INTEGER NOT NULL, expires_at_ms INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
        INSERT OR IGNORE INTO meta(name, value) VALUES ('revision', 0), ('compact_revision', 0), ('last_lease_id', 0), ('schema', 1);
        """;

    public static SqliteConnection OpenWriter(string path)
    {
        // The writer owns its connection for the life of the store, so it is not pooled.
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
        }.ToString());
        try
        {
            connection.Open();
            // WAL + synchronous=FULL: every commit fsyncs the log before it returns, so an acknowledged
            // write survives kill -9 and power loss; readers never block the writer.
            Execute(connection, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;");
            Execute(connection, CreateTables);
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    public static string ReaderConnectionString(string path) => new SqliteConnectionStringBuilder
    {
        DataSource = path,
        Mode = SqliteOpenMode.ReadOnly,
        Pooling = true,
        DefaultTimeout = 5,
    }.ToString();

    public static long ReadMeta(SqliteConnection connection, string name, SqliteTransaction? transaction = null)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT value FROM meta WHERE name = $name";
        command.Parameters.AddWithValue("$name", name);
        return Convert.ToInt64(command.ExecuteScalar() ?? 0L, System.Globalization.CultureInfo.InvariantCulture);
    }

    public static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
