using Halo.Core.Failover;

namespace Halo.Server.Groups;

/// <summary>What the server knows of one member: its last report, on the server's clock.</summary>
internal sealed class MemberRuntime(string name, string address)
{
    public string Name { get; } = name;
    public string Address { get; set; } = address;
    public DateTimeOffset LastReport { get; set; } = DateTimeOffset.MinValue;
    public MemberReport? Report { get; set; }
    public DateTimeOffset? DbDownSince { get; set; }
    public DateTimeOffset? DemotedAt { get; set; }

    public long SeenVersion => Report?.SeenVersion ?? 0;

    public MemberState State() => new(Name, Address, LastReport, Report?.Role ?? MemberRole.Unknown, Report?.Epoch ?? 0,
        Report?.DbUp ?? false, Report?.Healthy ?? false, Report?.Offset ?? 0, DbDownSince, DemotedAt, Report?.Timeline ?? 0,
        Bootstrappable: Report?.Bootstrappable ?? false);
}

/// <summary>A drill the primary's agent should carry out once.</summary>
internal sealed record PendingDrill(long Id, string Member, string Mode, TimeSpan Duration, DateTimeOffset At);

/// <summary>
/// One group's live state in the server. Guarded by <see cref="Gate"/>; every visible change bumps <see cref="Version"/>
/// and wakes watchers (agents and TCP proxies long-polling the status).
/// </summary>
internal sealed class GroupRuntime(string name, GroupPolicy policy, long initialVersion)
{
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string Name { get; } = name;
    public object Gate { get; } = new();
    public GroupPolicy Policy { get; set; } = policy;
    public LeaderRecord? Leader { get; set; }
    public long LeaderRevision { get; set; }
    public Dictionary<string, MemberRuntime> Members { get; } = new(StringComparer.Ordinal);
    public long Version { get; private set; } = initialVersion;
    /// <summary>The leader's agent has reported its database primary in the current epoch.</summary>
    public bool Confirmed { get; set; }
    public FailoverRecord? LastFailover { get; set; }
    public string? Pending { get; set; }
    /// <summary>A planned switchover asks the current primary to hold writes.</summary>
    public bool FenceLeader { get; set; }
    public PendingDrill? Drill { get; set; }
    /// <summary>When the controller first saw the current failover trigger (for the detection stage).</summary>
    public DateTimeOffset? TriggerSeen { get; set; }
    public string? LastDecision { get; set; }
    /// <summary>The failure whose candidates' final reports the controller is waiting for.</summary>
    public DateTimeOffset? AwaitingReportsSince { get; set; }
    /// <summary>The version published when that failure was detected; reports that saw it carry final offsets.</summary>
    public long AwaitingVersion { get; set; }
    /// <summary>Synchronous replication: the record and what the primary is asked to wait for (<see cref="SynchronousReplication"/>).</summary>
    public SyncRuntime Sync { get; } = new();

    /// <summary>Call under <see cref="Gate"/>.</summary>
    public void Bump()
    {
        Version++;
        _changed.TrySetResult();
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Completes when the version passes <paramref name="after"/>; call under <see cref="Gate"/>.</summary>
    public Task ChangedAfter(long after) => Version > after || after > Version + 1_000_000_000 ? Task.CompletedTask : _changed.Task;

    public GroupStatus Status(DateTimeOffset now)
    {
        lock (Gate)
        {
            var reference = Members.Count == 0 ? 0 : Members.Values.Max(m => m.Report?.Offset ?? 0);
            var members = Members.Values.OrderBy(m => m.Name, StringComparer.Ordinal).Select(m =>
            {
                var r = m.Report;
                var fresh = now - m.LastReport <= Policy.MemberTimeout;
                var p = Policy.For(m.Name);
                return new MemberView(m.Name, m.Address, r?.Role ?? MemberRole.Unknown, r?.Epoch ?? 0, r?.DbUp ?? false, r?.Healthy ?? false,
                    r?.Offset ?? 0, r is null ? null : Math.Max(0, reference - r.Offset), fresh, m.LastReport == DateTimeOffset.MinValue ? null : m.LastReport,
                    r?.Fenced ?? false, p.Priority, p.NeverPromote, r?.Following, r?.Detail, r?.Kind, r?.Timeline ?? 0, r?.SynchronousStandbys);
            }).ToList();
            var primary = Leader is { } l && Members.TryGetValue(l.Member, out var pm) ? pm.Address : null;
            return new GroupStatus(Name, Version, Leader?.Epoch ?? 0, Leader?.Member, primary, Confirmed && !FenceLeader, Policy.Paused,
                Policy, members, LastFailover, Pending, Sync.Record);
        }
    }

    /// <summary>What <paramref name="member"/> should be; call under <see cref="Gate"/>.</summary>
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
            SynchronousStandbys = leader?.Member == member ? Sync.NamesFor(Policy) : null,
        };
    }
}
