namespace Halo.Core.Failover;

/// <summary>How a primary/replica group fails over. Every default is documented and validated by <see cref="GroupPolicyValidator"/>.</summary>
public sealed record GroupPolicy
{
    /// <summary>TTL of the primary's lease in the store. Default 2 s; whole seconds, 1 – 60 s (store leases are whole seconds, as etcd's).</summary>
    public TimeSpan LeaseTtl { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Most bytes a candidate may be behind the primary's last known replication offset. Default 1 MiB; 0 – 1 TiB.</summary>
    public long MaxLagBytes { get; init; } = 1 << 20;

    /// <summary>
    /// How long the primary's agent may try restarting a crashed database in place before the controller fails over.
    /// Default 0 (fail over at once: a Redis without persistence restarts empty, so restarting it as primary would lose data); 0 – 5 min.
    /// </summary>
    public TimeSpan RestartGrace { get; init; } = TimeSpan.Zero;

    /// <summary>
    /// Anti-flapping window: a member demoted by a failover is the last choice as a candidate for this long.
    /// Default 30 s; 0 – 1 h.
    /// </summary>
    public TimeSpan AntiFlapWindow { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>A member whose last report is older than this is "gone" and never a candidate. Default 1 s; 100 ms – 60 s.</summary>
    public TimeSpan MemberTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Maintenance mode: no automatic failover while true. Default false.</summary>
    public bool Paused { get; init; }

    /// <summary>
    /// Redis min-replicas-to-write on the primary (0 = off). Default 0; 0 – 16. Combined with clients waiting for
    /// a replica acknowledgement (WAIT 1), an acknowledged write is on a replica before the client hears "ok".
    /// </summary>
    public int MinReplicasToWrite { get; init; }

    /// <summary>
    /// How many replicas hold a write before a client counts it as acknowledged: clients use Redis <c>WAIT n</c> with at least
    /// this n. The controller promotes only a member shown to hold every write so acknowledged (<see cref="PromotionRule"/>):
    /// with N replicas it needs positions from N − n + 1 of them, and blocks (event and alert) rather than guess.
    /// 0 promises nothing beyond asynchronous replication: one answering replica is enough. Default 1; 0 – 16.
    /// </summary>
    public int AckReplicas { get; init; } = 1;
    /// Synchronous replication (PostgreSQL): <c>off</c> (default: commits are acknowledged by the primary alone), <c>preferred</c>
    /// (commits wait for <see cref="SynchronousCount"/> healthy standbys; with none left the group degrades to asynchronous, with an
    /// event and an alert) or <c>strict</c> (commits wait, even when that means blocking, and only a member proven to hold every
    /// acknowledged commit is ever promoted). Drivers without synchronous replication ignore it.
    /// </summary>
    public SynchronousMode Synchronous { get; init; }

    /// <summary>How many standbys acknowledge each commit in synchronous mode (<c>ANY n (...)</c>). Default 1; 1 – 8.</summary>
    public int SynchronousCount { get; init; } = 1;

    /// <summary>Per-member failover priority and never-promote flags, by member name.</summary>
    public IReadOnlyDictionary<string, MemberPolicy> Members { get; init; } = new Dictionary<string, MemberPolicy>();

    public MemberPolicy For(string member) => Members.TryGetValue(member, out var p) ? p : MemberPolicy.Default;
}

/// <summary>How commits wait for standbys (see <see cref="GroupPolicy.Synchronous"/>).</summary>
public enum SynchronousMode
{
    Off,
    Preferred,
    Strict,
}

/// <summary>One member's election preferences.</summary>
public sealed record MemberPolicy
{
    public static readonly MemberPolicy Default = new();

    /// <summary>Higher wins among equally caught-up candidates. Default 0; 0 – 1000.</summary>
    public int Priority { get; init; }

    /// <summary>Never promoted (a backup or analytics replica). Default false.</summary>
    public bool NeverPromote { get; init; }
}
