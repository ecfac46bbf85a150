namespace Halo.Agent.Drivers;

/// <summary>
/// Credentials the agent uses with its Redis: an ACL user (null: the default user, as with requirepass) and its password.
/// Read from a file (a mounted secret), never from the command line, where `ps` would show it. The same credentials
/// authenticate replicas to their primary (masteruser/masterauth), so every member of a group uses one user.
/// </summary>
public sealed record RedisAuth(string? User, string Password)
{
    /// <summary>
    /// Reads "user password" or "password" from the first line of <paramref name="path"/>. Throws
    /// <see cref="FormatException"/> for an empty or malformed file (the message never contains the password).
    /// </summary>
    public static RedisAuth Load(string path)
    {
        var line = File.ReadLines(path).FirstOrDefault()?.Trim() ?? "";
        var parts = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        return parts switch
        {
            [var password] => new RedisAuth(null, password),
            [var user, var password] => new RedisAuth(user, password),
            [] => throw new FormatException("is empty; write 'user password' or 'password' on its first line"),
            _ => throw new FormatException("has more than two words on its first line; write 'user password' or 'password'"),
        };
    }

    /// <summary>The AUTH command's arguments.</summary>
    public string[] Command => User is null ? ["AUTH", Password] : ["AUTH", User, Password];

    /// <summary>redis.conf lines a managed Redis starts with: the user (or requirepass), and the same credentials for replication.</summary>
    public string ConfigLines => User is null
        ? $"requirepass {Password}\nmasterauth {Password}\n"
        : $"user default off\nuser {User} on >{Password} ~* &* +@all\nmasteruser {User}\nmasterauth {Password}\n";

    /// <summary>Never the password: records print themselves in logs and exceptions.</summary>
    public override string ToString() => $"RedisAuth {{ User = {User ?? "default"} }}";
}
