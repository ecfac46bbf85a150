using System.Security.Cryptography;

namespace Halo.Agent.Drivers;

/// <summary>
/// The two passwords of a managed PostgreSQL group: the superuser's (the agent's own connection, pg_rewind's source) and the
/// replication user's (pg_basebackup, streaming). One file, "superuser=..." and "replication=..." lines, mode 0600. The member
/// that initialises the group writes it; the others read it (copy it to their machines). Never sent to the control plane.
/// </summary>
public sealed record PostgresSecrets(string Superuser, string Replication)
{
    public const string ReplicationUser = "halo_replicator";
    public const string SuperuserName = "postgres";

    /// <summary>Reads <paramref name="path"/>; throws <see cref="DatabaseSetupException"/> naming the file when it is missing or malformed.</summary>
    public static PostgresSecrets Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new DatabaseSetupException($"--postgres-secrets {path}: no such file (the member that initialised the group wrote it; copy it here)");
        }

        var values = File.ReadAllLines(path).Select(l => l.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0].Trim(), p => p[1].Trim());
        return values.TryGetValue("superuser", out var su) && su.Length > 0 && values.TryGetValue("replication", out var rep) && rep.Length > 0
            ? new PostgresSecrets(su, rep)
            : throw new DatabaseSetupException($"--postgres-secrets {path}: expected lines superuser=... and replication=...");
    }

    /// <summary>Reads the file, or creates it with fresh random passwords (mode 0600) when it does not exist.</summary>
    public static PostgresSecrets LoadOrCreate(string path)
    {
        if (File.Exists(path))
        {
            return Load(path);
        }

        var secrets = new PostgresSecrets(Random(), Random());
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        var temp = Path.Combine(directory, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        var create = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            create.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var stream = new FileStream(temp, create))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write($"superuser={secrets.Superuser}\nreplication={secrets.Replication}\n");
        }

        // Another member may have created it meanwhile: theirs wins, so every member ends up with the same passwords.
        try
        {
            File.Move(temp, path, overwrite: false);
        }
        catch (IOException) when (File.Exists(path))
        {
            File.Delete(temp);
            return Load(path);
        }

        return secrets;
    }

    private static string Random() => Convert.ToHexString(RandomNumberGenerator.GetBytes(24)).ToLowerInvariant();

    public override string ToString() => "PostgresSecrets(***)";
}
