namespace Halo.Server.Groups;

/// <summary>Store layout of failover groups: policy, members, the leader record and the lease marker that expires with the primary's lease.</summary>
internal static class GroupKeys
{
    public const string Prefix = "groups/";

    public static string Policy(string group) => $"{Prefix}{group}/policy";

    public static string Leader(string group) => $"{Prefix}{group}/leader";

    /// <summary>Attached to the primary's lease: its disappearance is how the controller learns the lease lapsed.</summary>
    public static string LeaseMarker(string group) => $"{Prefix}{group}/lease";

    /// <summary>The synchronous-standby record (<see cref="Core.Failover.SyncRecord"/>), written only by the controller of the current epoch.</summary>
    public static string Sync(string group) => $"{Prefix}{group}/sync";

    /// <summary>
    /// The epoch whose primary has confirmed its promotion, written once per epoch and guarded by the leader record's revision,
    /// so a server that takes over deciding the group knows the primary was confirmed (and the TCP proxies keep routing to it).
    /// </summary>
    public static string Confirmed(string group) => $"{Prefix}{group}/confirmed";

    /// <summary>The members the primary of an epoch asks for failsafe promises (<see cref="Core.Failover.FailsafeRecord"/>).</summary>
    public static string Failsafe(string group) => $"{Prefix}{group}/failsafe";

    /// <summary>What the decider shows beyond the leader record (<see cref="DecidedRecord"/>), for the next decider.</summary>
    public static string Decided(string group) => $"{Prefix}{group}/decided";

    /// <summary>Every key of one group.</summary>
    public static string Of(string group) => $"{Prefix}{group}/";

    public static string Member(string group, string member) => $"{Prefix}{group}/members/{member}";

    /// <summary>Splits "groups/cache/members/r1" into ("cache", "members/r1").</summary>
    public static bool TryParse(string key, out string group, out string rest)
    {
        group = rest = "";
        if (!key.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }

        var tail = key[Prefix.Length..];
        var slash = tail.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0)
        {
            return false;
        }

        group = tail[..slash];
        rest = tail[(slash + 1)..];
        return true;
    }
}
