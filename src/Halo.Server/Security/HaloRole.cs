namespace Halo.Server.Security;

/// <summary>
/// What a token may do (docs/security.md). Roles are ordered: each includes the ones below it, so an `operate` token
/// can read and register, and only `admin` manages tokens.
/// </summary>
public enum HaloRole
{
    /// <summary>Lists, feeds, events, availability, metrics, the dashboard's data.</summary>
    Read = 1,

    /// <summary>An instance's own registration and heartbeats, gateways' caller reports, agents' member reports.</summary>
    Register = 2,

    /// <summary>Drain, deregister, switchover, pause and resume, drills, group policies.</summary>
    Operate = 3,

    /// <summary>Creating, listing and revoking tokens.</summary>
    Admin = 4,
}

/// <summary>Role names as they appear in the API, the CLI and the docs.</summary>
public static class HaloRoles
{
    public const string Rule = "one of read, register, operate, admin";

    public static string Name(HaloRole role) => role switch
    {
        HaloRole.Read => "read",
        HaloRole.Register => "register",
        HaloRole.Operate => "operate",
        HaloRole.Admin => "admin",
        _ => throw new ArgumentOutOfRangeException(nameof(role)),
    };

    public static bool TryParse(string? text, out HaloRole role)
    {
        role = text switch
        {
            "read" => HaloRole.Read,
            "register" => HaloRole.Register,
            "operate" => HaloRole.Operate,
            "admin" => HaloRole.Admin,
            _ => 0,
        };
        return role != 0;
    }
}
