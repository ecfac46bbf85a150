using System.Collections.Immutable;
using Halo.Core.Failover;

namespace Halo.Server.Groups;

/// <summary>What the server knows of one member: its last report, on the server's clock.</summary>
internal sealed record MemberRuntime(
    string Name, string Address, DateTimeOffset LastReport, MemberReport? Report, DateTimeOffset? DbDownSince, DateTimeOffset? DemotedAt,
    DateTimeOffset? FencedSince = null)
{
    public static MemberRuntime New(string name, string address) => new(name, address, DateTimeOffset.MinValue, null, null, null);

    public bool Fresh(DateTimeOffset now, GroupPolicy policy) => now - LastReport <= policy.MemberTimeout;

    /// <summary>
    /// The offset of the last report with the database up. A member whose database just died reports no position (0), but
    /// what it held until then still counts: a failed primary's last position is the reference replicas' lag is measured
    /// against, so a replica too far behind it is not promoted because the primary's death erased the evidence.
    /// </summary>
    public long LastUpOffset { get; init; }

    public MemberState State() => new(Name, Address, LastReport, Report?.Role ?? MemberRole.Unknown, Report?.Epoch ?? 0,
        Report?.DbUp ?? false, Report?.Healthy ?? false, Report is { DbUp: true } up ? up.Offset : LastUpOffset, DbDownSince, DemotedAt, Report?.Timeline ?? 0,
        Bootstrappable: Report?.Bootstrappable ?? false, Round: Report?.Round ?? 0, FencedSince: FencedSince,
        PrimaryOfEpoch: Report is { DbUp: true } held ? held.PrimaryOfEpoch : 0, Following: Report?.Following);
}

/// <summary>
/// A group's synchronous replication (docs/postgres.md, "Synchronous mode"): the stored record (a superset of what the primary
/// waits for) and its ModRevision, what the primary is asked to wait for, when it was first seen applied, and since when each
/// member has not been streaming from the primary.
/// </summary>
internal sealed record SyncState(SyncRecord? Record, long Revision, SyncPlan? Wanted, DateTimeOffset? AppliedAt, ImmutableDictionary<string, DateTimeOffset> NotStreamingSince)
{
    public static readonly SyncState None = new(null, 0, null, null, ImmutableDictionary.Create<string, DateTimeOffset>(StringComparer.Ordinal));

    /// <summary>The synchronous_standby_names the primary must apply: "" when the group is asynchronous.</summary>
    public string NamesFor(GroupPolicy policy) => policy.Synchronous == SynchronousMode.Off ? "" : Wanted?.Names ?? SyncRecord.Format(Record?.Members ?? [], policy.SynchronousCount);
}

/// <summary>A drill the primary's agent should carry out once.</summary>
internal sealed record PendingDrill(long Id, string Member, string Mode, TimeSpan Duration, DateTimeOffset At);

/// <summary>
/// One group's state as one immutable value. Only its <see cref="GroupActor"/> makes the next one, and publishes it whole;
/// everyone else (status, long polls, assignments, metrics) reads a snapshot and never locks.
/// </summary>
internal sealed record GroupState
{
    public required string Name { get; init; }
    public required GroupPolicy Policy { get; init; }
    /// <summary>Store ModRevision of the policy: every policy write compares it (no blind puts).</summary>
    public long PolicyRevision { get; init; }
    public LeaderRecord? Leader { get; init; }
    /// <summary>Store ModRevision of the leader record: the compare of the next takeover.</summary>
    public long LeaderRevision { get; init; }
    public ImmutableSortedDictionary<string, MemberRuntime> Members { get; init; } = ImmutableSortedDictionary.Create<string, MemberRuntime>(StringComparer.Ordinal);
    /// <summary>Increases with every change a watcher should see (agents and proxies long-poll on it).</summary>
    public long Version { get; init; }
    /// <summary>The leader's agent has reported its database primary in the current epoch.</summary>
    public bool Confirmed { get; init; }
    public FailoverRecord? LastFailover { get; init; }
    /// <summary>A planned switchover owns the group until it finishes.</summary>
    public string? Pending { get; init; }
    /// <summary>A planned switchover asks the current primary to hold writes.</summary>
    public bool FenceLeader { get; init; }
    public PendingDrill? Drill { get; init; }
    /// <summary>When the controller first saw the current failover trigger (for the detection stage).</summary>
    public DateTimeOffset? TriggerSeen { get; init; }
    /// <summary>The open position round: agents answer it with final positions before anyone is promoted.</summary>
    public PositionRound? Round { get; init; }
    /// <summary>Why the needed failover is not happening, while no member can be shown to hold every acknowledged write.</summary>
    public string? Blocked { get; init; }
    public SyncState Sync { get; init; } = SyncState.None;
    /// <summary>The stored failsafe record: after a lapse, only its members can be promoted from its epoch.</summary>
    public FailsafeRecord? Failsafe { get; init; }

    /// <summary>
    /// The view a decision looks at. Members the primary never said it asks for failsafe promises count as not having answered
    /// any position round: the primary may still be writing on the others' promises, so their positions are not final, and they
    /// must not be promoted from its epoch.
    /// </summary>
    public GroupView DecisionView(bool leaseAlive, DateTimeOffset now)
    {
        var view = View(leaseAlive, now);
        if (Failsafe is not { } fs || Leader is not { } leader || fs.Epoch != leader.Epoch)
        {
            return view;
        }

        return view with { Members = view.Members.Select(m => m.Name == leader.Member || fs.Members.Contains(m.Name) ? m : m with { Round = 0 }).ToList() };
    }

    public GroupView View(bool leaseAlive, DateTimeOffset now) =>
        new(Policy, Leader, leaseAlive, Members.Values.Select(m => m.State()).ToList(), now, Sync.Record, Confirmed && !FenceLeader);

    public GroupStatus Status(DateTimeOffset now)
    {
        var reference = Members.Count == 0 ? 0 : Members.Values.Max(m => m.Report?.Offset ?? 0);
        var members = Members.Values.Select(m =>
        {
            var r = m.Report;
            var p = Policy.For(m.Name);
            return new MemberView(m.Name, m.Address, r?.Role ?? MemberRole.Unknown, r?.Epoch ?? 0, r?.DbUp ?? false, r?.Healthy ?? false,
                r?.Offset ?? 0, r is null ? null : Math.Max(0, reference - r.Offset), m.Fresh(now, Policy), m.LastReport == DateTimeOffset.MinValue ? null : m.LastReport,
                r?.Fenced ?? false, p.Priority, p.NeverPromote, r?.Following, r?.Detail, r?.Kind, r?.Timeline ?? 0, r?.SynchronousStandbys);
        }).ToList();
        var primary = Leader is { } l && Members.TryGetValue(l.Member, out var pm) ? pm.Address : null;
        return new GroupStatus(Name, Version, Leader?.Epoch ?? 0, Leader?.Member, primary, Confirmed && !FenceLeader, Policy.Paused,
            Policy, members, LastFailover, Pending, Sync.Record, Round, Blocked, PolicyRevision);
    }

    /// <summary>What <paramref name="member"/> should be.</summary>
    public Assignment AssignmentFor(string member, bool renewed)
    {
        var leader = Leader;
        var drill = Drill is { } d && d.Member == member ? d : null;
        return new Assignment
        {
            Epoch = leader?.Epoch ?? 0,
            Role = leader is null ? MemberRole.Unknown : leader.Member == member ? MemberRole.Primary : MemberRole.Replica,
            Primary = leader?.Member,
            // Replicas are re-pointed once the new primary has confirmed: a Redis replica told to follow a node that is still
            // a replica itself is refused (NOMASTERLINK) and retries only at its next once-a-second cron.
            PrimaryAddress = leader is not null && (Confirmed || leader.Member == member) && Members.TryGetValue(leader.Member, out var pm) ? pm.Address : null,
            Fence = leader?.Member == member && FenceLeader,
            LeaseRenewed = renewed,
            LeaseTtl = Policy.LeaseTtl,
            MinReplicasToWrite = Policy.MinReplicasToWrite,
            ResumeAfterRestart = Policy.RestartGrace > TimeSpan.Zero,
            Drill = drill?.Mode,
            DrillId = drill?.Id ?? 0,
            Duration = drill?.Duration ?? TimeSpan.Zero,
            Version = Version,
            Round = Round?.Id ?? 0,
            SynchronousStandbys = leader?.Member == member ? Sync.NamesFor(Policy) : null,
            FailsafePeers = leader?.Member == member ? Members.Values.Where(m => m.Name != member).ToDictionary(m => m.Name, m => m.Report?.FailsafeAddress ?? "", StringComparer.Ordinal) : null,
            FailsafeEpoch = leader?.Member == member && Failsafe is { } fs && fs.Epoch == leader.Epoch ? fs.Epoch : 0,
            FailsafeMembers = leader?.Member == member && Failsafe is { } held && held.Epoch == leader.Epoch ? held.Members : null,
        };
    }
}
