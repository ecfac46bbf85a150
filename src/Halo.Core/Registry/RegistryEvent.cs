namespace Halo.Core.Registry;

/// <summary>One entry of the event history: what happened, why, and the evidence behind it.</summary>
public sealed record RegistryEvent
{
    /// <summary>registered, deregistered, health, draining, removed, brake-engaged, brake-released, report, alert.</summary>
    public required string Type { get; init; }
    public required DateTimeOffset Time { get; init; }
    public required string Service { get; init; }
    public string? Instance { get; init; }
    public string? From { get; init; }
    public string? To { get; init; }
    public string? Cause { get; init; }
    public IReadOnlyDictionary<string, object?>? Evidence { get; init; }

    /// <summary>Who caused it through the API (token name, role, address); null for the server's own decisions.</summary>
    public EventActor? Actor { get; init; }

    /// <summary>The store revision at which the event was recorded (set when read back).</summary>
    public long Revision { get; init; }
}

/// <summary>The caller behind an event: the token's name (never its secret), the role it holds and the peer address.</summary>
public sealed record EventActor(string Token, string Role, string Address);

public static class EventTypes
{
    public const string Registered = "registered";
    public const string Deregistered = "deregistered";
    public const string Health = "health";
    public const string Draining = "draining";
    public const string Removed = "removed";
    public const string BrakeEngaged = "brake-engaged";
    public const string BrakeReleased = "brake-released";
    public const string Report = "report";

    /// <summary>A group's first primary was elected.</summary>
    public const string Elected = "elected";

    /// <summary>A group's primary was replaced after a failure (with stage timings in the evidence).</summary>
    public const string Failover = "failover";

    /// <summary>A planned change of a group's primary.</summary>
    public const string Switchover = "switchover";

    /// <summary>
    /// A needed failover could not promote anyone without risking acknowledged writes (to = "blocked", with the reason), or that
    /// situation ended (from = "blocked", to = "resolved").
    /// </summary>
    public const string FailoverBlocked = "failover-blocked";

    /// <summary>A failover group was deleted (its members had stopped reporting), or one member of it.</summary>
    public const string GroupDeleted = "group-deleted";
    public const string MemberDeleted = "member-deleted";

    /// <summary>A group was put in maintenance mode (no failover) or taken out of it.</summary>
    public const string Paused = "paused";
    public const string Resumed = "resumed";

    /// <summary>A synchronous group (preferred mode) has fewer healthy standbys than it waits for: commits are acknowledged without them.</summary>
    public const string SynchronousDegraded = "synchronous-degraded";

    /// <summary>A degraded synchronous group's commits wait for enough standbys again.</summary>
    public const string SynchronousRestored = "synchronous-restored";

    /// <summary>Every type the history can hold, for filters and validation.</summary>
    public static IReadOnlyList<string> All { get; } =
    [
        Registered, Deregistered, Health, Draining, Removed, BrakeEngaged, BrakeReleased, Report,
        Elected, Failover, FailoverBlocked, Switchover, Paused, Resumed, GroupDeleted, MemberDeleted, SynchronousDegraded, SynchronousRestored,
        Alert, Audit,
    ];

    /// <summary>A mutating API call that succeeded: who (token name, role, address) did what (docs/security.md).</summary>
    public const string Audit = "audit";

    /// <summary>An alert notification delivered (to = "delivered") or given up on (to = "failed"); see docs/monitoring.md.</summary>
    public const string Alert = "alert";
}
