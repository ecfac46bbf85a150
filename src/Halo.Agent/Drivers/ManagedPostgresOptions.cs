using System.Net;
using System.Net.Sockets;

namespace Halo.Agent.Drivers;

/// <summary>A PostgreSQL server the agent runs itself (`halo agent --driver postgres --postgres-data DIR`).</summary>
public sealed record ManagedPostgresOptions
{
    /// <summary>Directory of postgres, initdb, pg_basebackup, pg_rewind (Debian: /usr/lib/postgresql/15/bin).</summary>
    public required string BinDirectory { get; init; }

    /// <summary>The data directory: created by initdb (first member) or pg_basebackup (the others) when empty or absent.</summary>
    public required string DataDirectory { get; init; }

    public required int Port { get; init; }

    /// <summary>This member's name: its application_name when streaming, so synchronous_standby_names can name it.</summary>
    public required string Member { get; init; }

    /// <summary>File with the superuser and replication passwords (<see cref="PostgresSecrets"/>).</summary>
    public required string SecretsFile { get; init; }

    /// <summary>Address the server listens on and advertises. Default 127.0.0.1.</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>Longest a start (crash recovery, catching up to consistency) may take. Default 60 s.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(60);

    public string Program(string name) => Path.Combine(BinDirectory, name);

    /// <summary>
    /// Checks what can be checked before anything runs, each failure one line naming the flag: the binaries, the data directory
    /// (a non-empty directory that is not a PostgreSQL 15 data directory is never touched), the port.
    /// </summary>
    public void Validate()
    {
        foreach (var program in new[] { "postgres", "initdb", "pg_basebackup", "pg_rewind" })
        {
            if (!File.Exists(Program(program)))
            {
                throw new DatabaseSetupException($"--postgres-bin {BinDirectory}: no {program} there (install PostgreSQL 15: apt-get install postgresql)");
            }
        }

        if (File.Exists(DataDirectory))
        {
            throw new DatabaseSetupException($"--postgres-data {DataDirectory}: is a file, not a directory");
        }

        if (Directory.Exists(DataDirectory) && Directory.EnumerateFileSystemEntries(DataDirectory).Any())
        {
            var version = Path.Combine(DataDirectory, "PG_VERSION");
            if (!File.Exists(version))
            {
                throw new DatabaseSetupException($"--postgres-data {DataDirectory}: not empty and not a PostgreSQL data directory (no PG_VERSION); refusing to touch it");
            }

            var major = File.ReadAllText(version).Trim();
            var binaries = Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(BinDirectory).TrimEnd('/')));
            if (int.TryParse(binaries, out _) && major != binaries)
            {
                throw new DatabaseSetupException($"--postgres-data {DataDirectory}: a PostgreSQL {major} data directory, but --postgres-bin is PostgreSQL {binaries}");
            }
        }

        if (Port is < 1 or > 65535)
        {
            throw new DatabaseSetupException($"--postgres-port {Port}: must be between 1 and 65535");
        }

        try
        {
            using var probe = new TcpListener(IPAddress.Parse(Host), Port);
            probe.Start();
            probe.Stop();
        }
        catch (SocketException ex)
        {
            throw new DatabaseSetupException($"--postgres-port {Port}: cannot listen on {Host}:{Port} ({ex.SocketErrorCode}); is another server using it?");
        }
    }
}
