using Halo.Core.Failover;
using Halo.Core.Registry;
using Halo.Store;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Halo.Server.Groups;

/// <summary>
/// The failover controller: on every report that may matter, and at least every <see cref="GroupsOptions.ControllerTick"/>,
/// looks at each group and, when the planner says so, moves leadership to the best candidate with a compare-and-set that bumps the epoch.
/// </summary>
internal sealed class GroupController(GroupRegistry registry, GroupsOptions options, GroupMetrics metrics, ILogger<GroupController> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        registry.Promoted += metrics.Promoted;
        await registry.EnsureLoadedAsync().ConfigureAwait(false);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await registry.Signal.WaitAsync(options.ControllerTick, stoppingToken).ConfigureAwait(false);
                while (registry.Signal.CurrentCount > 0)
                {
                    await registry.Signal.WaitAsync(stoppingToken).ConfigureAwait(false);
                }

                await TickAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
        }
    }

    /// <summary>One decision pass over every group; tests call it directly on a fake clock.</summary>
    public async Task TickAsync(CancellationToken ct)
    {
        foreach (var g in registry.All)
        {
            try
            {
                await DecideAsync(g, ct).ConfigureAwait(false);
                await SynchronousReplication.MaintainAsync(registry, g, logger, ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                GroupLog.TickFailed(logger, g.Name, ex);
            }
        }
    }

    private async Task DecideAsync(GroupRuntime g, CancellationToken ct)
    {
        LeaderRecord? leader;
        lock (g.Gate)
        {
            if (g.Pending is not null)
            {
                return; // a switchover owns the group until it finishes
            }

            leader = g.Leader;
        }

        var leaseAlive = false;
        if (leader is not null)
        {
            var marker = await registry.Store.GetAsync(GroupKeys.LeaseMarker(g.Name), ct).ConfigureAwait(false);
            leaseAlive = marker.Item?.LeaseId == leader.LeaseId;
        }

        var now = registry.Time.GetUtcNow();
        GroupView view;
        long revision;
        lock (g.Gate)
        {
            if (!ReferenceEquals(leader, g.Leader))
            {
                return; // changed while we read the marker; the next pass looks again
            }

            revision = g.LeaderRevision;
            view = new GroupView(g.Policy, leader, leaseAlive, g.Members.Values.Select(m => m.State()).ToList(), now, g.Sync.Record);
        }

        var decision = FailoverPlanner.Decide(view);
        if (decision.Action is FailoverAction.None)
        {
            g.TriggerSeen = null;
            g.LastDecision = null;
            return;
        }

        var detected = g.TriggerSeen ??= decision.Cause.StartsWith("db-down", StringComparison.Ordinal) && leader is not null &&
            view.Members.FirstOrDefault(m => m.Name == leader.Member)?.DbDownSince is { } since ? since : now;
        if (decision.Action is FailoverAction.Wait)
        {
            var text = string.Join("; ", decision.Skipped.Select(s => $"{s.Key}: {s.Value}"));
            if (g.LastDecision != text)
            {
                g.LastDecision = text;
                GroupLog.NoCandidate(logger, g.Name, decision.Cause, text);
            }

            return;
        }

        if (decision.Action is FailoverAction.Failover && !await HaveFinalOffsetsAsync(g, view, detected, now).ConfigureAwait(false))
        {
            return;
        }

        // Re-rank on the newest reports: offsets reported after the failure are final.
        lock (g.Gate)
        {
            // Positions read before the failure are not final: the synchronous rule counts only those read after it.
            view = view with { Members = g.Members.Values.Select(m => m.State() with { PositionFinal = m.SeenVersion >= g.AwaitingVersion }).ToList() };
        }

        decision = FailoverPlanner.Decide(view with { Now = registry.Time.GetUtcNow() });
        if (decision.Action is not (FailoverAction.Elect or FailoverAction.Failover))
        {
            return;
        }

        string evidence;
        lock (g.Gate)
        {
            evidence = string.Join(" ", g.Members.Values.Select(m => $"{m.Name}@{m.Report?.Offset}{(m.SeenVersion >= g.AwaitingVersion ? "" : "(stale)")}" +
                (decision.Skipped.TryGetValue(m.Name, out var why) ? $"[{why}]" : "")));
        }

        await TakeOverAsync(registry, metrics, logger, g, new VersionedLeader(leader, revision), decision.To!, decision.Cause, detected, ct, evidence).ConfigureAwait(false);
    }

    /// <summary>
    /// True once every promotable member has reported after <paramref name="detected"/> (or the wait is over). The first time
    /// it is false it bumps the group version, which wakes every agent's long poll so they report at once.
    /// </summary>
    private Task<bool> HaveFinalOffsetsAsync(GroupRuntime g, GroupView view, DateTimeOffset detected, DateTimeOffset now)
    {
        if (g.AwaitingReportsSince != detected)
        {
            lock (g.Gate)
            {
                g.AwaitingReportsSince = detected;
                g.Bump();
                g.AwaitingVersion = g.Version;
            }

            return Task.FromResult(false);
        }

        var (ranked, _) = CandidateSelector.Rank(view);
        bool final;
        lock (g.Gate)
        {
            final = ranked.All(m => g.Members.TryGetValue(m.Name, out var r) && r.SeenVersion >= g.AwaitingVersion);
        }

        return Task.FromResult(final || now - detected >= options.CandidateReportWait);
    }

    /// <summary>
    /// Makes <paramref name="to"/> primary in the next epoch: a fresh lease, then one transaction that checks the leader record
    /// is still the one observed and writes the new record, the lease marker and the event. Returns false when it lost the race.
    /// </summary>
    public static async Task<bool> TakeOverAsync(
        GroupRegistry registry, GroupMetrics metrics, ILogger logger, GroupRuntime g, VersionedLeader observed, string to, string cause,
        DateTimeOffset detected, CancellationToken ct, string? evidence = null)
    {
        var store = registry.Store;
        var lease = await store.GrantLeaseAsync(g.Policy.LeaseTtl, ct).ConfigureAwait(false);
        var now = registry.Time.GetUtcNow();
        var previous = observed.Record;
        var records = new StoreLeaderRecords(store, g.Name, next =>
        [
            TxnOp.Put(GroupKeys.LeaseMarker(g.Name), System.Text.Encoding.UTF8.GetBytes(next.Member), lease.Id),
            registry.Events.Append(new RegistryEvent
            {
                Type = previous is null ? EventTypes.Elected : cause == "switchover" ? EventTypes.Switchover : EventTypes.Failover,
                Time = now, Service = g.Name, Instance = next.Member, From = previous?.Member, To = next.Member, Cause = cause,
                Evidence = new Dictionary<string, object?> { ["epoch"] = next.Epoch, ["previousEpoch"] = previous?.Epoch ?? 0 },
            }),
            .. SynchronousReplication.OnTakeOver(g, next),
        ]);
        var taken = await LeaderElection.TryTakeOverAsync(records, observed, to, lease.Id, now, cause, ct).ConfigureAwait(false);
        if (taken is null)
        {
            GroupLog.LostRace(logger, g.Name);
            await store.RevokeLeaseAsync(lease.Id, ct).ConfigureAwait(false);
            var current = await records.ReadAsync(ct).ConfigureAwait(false);
            lock (g.Gate)
            {
                g.Leader = current.Record;
                g.LeaderRevision = current.Revision;
                g.Confirmed = false;
                g.Bump();
            }

            return false;
        }

        lock (g.Gate)
        {
            g.Leader = taken;
            g.LeaderRevision = records.LastRevision;
            g.Confirmed = false;
            g.TriggerSeen = null;
            g.AwaitingReportsSince = null;
            g.Drill = null;
            if (previous is not null && g.Members.TryGetValue(previous.Member, out var old))
            {
                old.DemotedAt = now;
            }

            g.LastFailover = new FailoverRecord(taken.Epoch, previous?.Member, taken.Member, cause, detected, now, null, evidence);
            SynchronousReplication.TookOver(g, taken, records.LastRevision);
            g.Bump();
        }

        metrics.LeaderChanged(g.Name, cause);
        GroupLog.LeaderChanged(logger, g.Name, taken.Member, taken.Epoch, cause, previous?.Member);
        if (previous is not null)
        {
            try
            {
                // The old lease no longer guards anything; revoking it makes the old primary's next renewal fail at once.
                await store.RevokeLeaseAsync(previous.LeaseId, ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is LeaseNotFoundException or StoreUnavailableException)
            {
            }
        }

        return true;
    }
}
