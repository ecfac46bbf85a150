namespace Halo.Core.Failover;

/// <summary>A database's role as its agent observed it.</summary>
public enum MemberRole
{
    Unknown,
    Primary,
    Replica,
}

/// <summary>What an agent reports about its database, several times a second (POST .../members/{member}/report).</summary>
public sealed record MemberReport
{
    /// <summary>host:port clients and replicas use to reach the database.</summary>
    public required string Address { get; init; }
    public MemberRole Role { get; init; }
    /// <summary>The epoch the agent last applied; a primary renews its lease only for the current epoch.</summary>
    public long Epoch { get; init; }
    public bool DbUp { get; init; }
    public bool Healthy { get; init; }
    /// <summary>Replication position (Redis master_repl_offset / slave_repl_offset).</summary>
    public long Offset { get; init; }
    /// <summary>True while the agent holds the database read-only (fenced).</summary>
    public bool Fenced { get; init; }
    /// <summary>For a replica, the host:port it replicates from.</summary>
    public string? Following { get; init; }
    /// <summary>
    /// The newest position round (<see cref="PositionRound"/>) the agent had seen before it probed: such a report answers that
    /// round with a position read after the failure was seen, which is final.
    /// </summary>
    public long Round { get; init; }
    /// <summary>Id of the last drill command carried out, so the server does not repeat it.</summary>
    public long DrillDone { get; init; }
    public string? Detail { get; init; }
    /// <summary>The driver: redis, postgres or exec (the drill picks its write load by it).</summary>
    public string? Kind { get; init; }
    /// <summary>History branch of the data (PostgreSQL timeline); 0 when the driver has none.</summary>
    public long Timeline { get; init; }
    /// <summary>On a primary, the synchronous_standby_names in force ("" when commits wait for no standby).</summary>
    public string? SynchronousStandbys { get; init; }
    /// <summary>On a primary, the members streaming from it (by application name).</summary>
    public IReadOnlyList<string>? StreamingStandbys { get; init; }
    /// <summary>No database yet, ready to initialise one if elected the group's first primary.</summary>
    public bool Bootstrappable { get; init; }
    /// <summary>
    /// The epoch in which this agent promoted the database process now running, when that same process (same pid) has been up
    /// and has not followed anyone since; 0 otherwise. Such a database holds every write acknowledged up to its epoch, so a
    /// fenced former primary that answers a position round with it bounds the round by itself (docs/failover.md).
    /// </summary>
    public long PrimaryOfEpoch { get; init; }
    /// <summary>Where this member's agent answers failsafe promise requests (host:port), or null when its failsafe is off.</summary>
    public string? FailsafeAddress { get; init; }
    /// <summary>
    /// From a primary with the failsafe on: every member it will ask for a promise before it keeps writing past its renew
    /// deadline. The decider records it; after the primary's lease lapses only these members can be promoted from its epoch.
    /// </summary>
    public IReadOnlyList<string>? FailsafeMembers { get; init; }
    /// <summary>True while the primary keeps accepting writes on promises alone (its lease not renewed in time).</summary>
    public bool Failsafe { get; init; }
}

/// <summary>The server's answer to a report, and what the group watch tells agents: what this member should be.</summary>
public sealed record Assignment
{
    public long Epoch { get; init; }
    public MemberRole Role { get; init; }
    public string? Primary { get; init; }
    public string? PrimaryAddress { get; init; }
    /// <summary>Hold writes even though primary: a planned switchover is draining this primary.</summary>
    public bool Fence { get; init; }
    /// <summary>True when this report renewed the primary's lease for <see cref="Epoch"/>.</summary>
    public bool LeaseRenewed { get; init; }
    public TimeSpan LeaseTtl { get; init; }
    public int MinReplicasToWrite { get; init; }
    /// <summary>
    /// May a primary whose database crashed and came back resume in the same epoch? Only when the policy gives a restart
    /// grace (meant for databases with persistence); otherwise a restarted, possibly empty, database waits for the controller.
    /// </summary>
    public bool ResumeAfterRestart { get; init; }
    /// <summary>A drill to carry out: "kill" (kill -9 the database) or "isolate" (stop talking to the server for a while).</summary>
    public string? Drill { get; init; }
    public long DrillId { get; init; }
    /// <summary>How long an "isolate" drill lasts.</summary>
    public TimeSpan Duration { get; init; }
    public long Version { get; init; }
    /// <summary>An open position round: answer it with a fresh probe at once (a report naming this round).</summary>
    public long Round { get; init; }
    /// <summary>
    /// For the primary: the synchronous_standby_names it must apply (synchronous mode; "" for none); null when the group does
    /// not manage synchronous replication.
    /// </summary>
    public string? SynchronousStandbys { get; init; }
    /// <summary>For the primary: the other members' failsafe addresses (member name to host:port) as the decider knows them.</summary>
    public IReadOnlyDictionary<string, string>? FailsafePeers { get; init; }
    /// <summary>For the primary: the epoch of the stored failsafe record (0 when none): only then may it use the failsafe.</summary>
    public long FailsafeEpoch { get; init; }
    /// <summary>For the primary: the members the stored failsafe record names (the only ones promotable from its epoch after a lapse).</summary>
    public IReadOnlyList<string>? FailsafeMembers { get; init; }
}

/// <summary>One member as the status API shows it.</summary>
public sealed record MemberView(
    string Name, string Address, MemberRole Role, long Epoch, bool DbUp, bool Healthy, long Offset, long? Lag, bool Fresh,
    DateTimeOffset? LastReport, bool Fenced, int Priority, bool NeverPromote, string? Following = null, string? Detail = null,
    string? Kind = null, long Timeline = 0, string? SynchronousStandbys = null);

/// <summary>When each stage of the last failover happened, on the server's clock.</summary>
public sealed record FailoverRecord(
    long Epoch, string? From, string To, string Cause, DateTimeOffset DetectedAt, DateTimeOffset DecidedAt, DateTimeOffset? PromotedAt,
    string? Evidence = null);

/// <summary>
/// A group's state: the primary of the current epoch, each member, the policy, the last failover, the synchronous-standby record.
/// <paramref name="Round"/> is the open position round (agents answer it), <paramref name="Blocked"/> why a needed failover is not
/// happening (no member can be shown to hold every acknowledged write), both null when none. <paramref name="PolicyRevision"/> is
/// the store revision of the policy, for a conditional update (<c>If-Match</c>).
/// </summary>
public sealed record GroupStatus(
    string Name, long Version, long Epoch, string? Primary, string? PrimaryAddress, bool PrimaryConfirmed, bool Paused,
    GroupPolicy Policy, IReadOnlyList<MemberView> Members, FailoverRecord? LastFailover, string? Pending,
    SyncRecord? Synchronous = null, PositionRound? Round = null, string? Blocked = null, long PolicyRevision = 0);

public sealed record GroupList(IReadOnlyList<GroupStatus> Groups);

public sealed record SwitchoverRequest(string? To);

public sealed record DrillRequest(string? Mode, TimeSpan? Duration);
