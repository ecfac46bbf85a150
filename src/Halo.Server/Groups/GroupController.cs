using Halo.Core;
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
                await registry.Signal.WaitAsync(options.ControllerTick, registry.Time, stoppingToken).ConfigureAwait(false);
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

        var trigger = FailoverPlanner.Decide(view);
        if (trigger.Action is FailoverAction.None)
        {
            g.TriggerSeen = null;
            await CloseRoundAsync(g, $"no longer needed: {trigger.Cause}", ct).ConfigureAwait(false);
            return;
        }

        var detected = g.TriggerSeen ??= trigger.Cause.StartsWith("db-down", StringComparison.Ordinal) && leader is not null &&
            view.Members.FirstOrDefault(m => m.Name == leader.Member)?.DbDownSince is { } since ? since : now;
        PositionRound round;
        lock (g.Gate)
        {
            if (g.Round is not { } open || open.Failed != leader?.Member || open.Epoch != (leader?.Epoch ?? 0))
            {
                // Ask every agent for its position now: the version bump wakes their long polls, and the round id they answer
                // with proves their probe ran after this moment, so the offsets they report are final.
                g.Round = new PositionRound(g.Version + 1, leader?.Member, leader?.Epoch ?? 0, trigger.Cause, now, now + options.PositionWait);
                g.Blocked = null;
                g.Bump();
                GroupLog.RoundOpened(logger, g.Name, g.Round.Id, trigger.Cause);
                return;
            }

            round = open;
            // Only positions that answered this round are final (the synchronous rule counts only those too).
            view = view with { Members = g.Members.Values.Select(m => m.State() with { PositionFinal = m.State().Round >= open.Id }).ToList(), Sync = g.Sync.Record };
        }

        var outcome = PromotionRule.Evaluate(view, round);
        if (outcome.Verdict is PromotionVerdict.Wait)
        {
            return;
        }

        if (outcome.Verdict is PromotionVerdict.Blocked)
        {
            await BlockAsync(g, round, outcome, ct).ConfigureAwait(false);
            return;
        }

        var evidence = outcome.Reason + (outcome.Skipped.Count == 0 ? "" : "; " + string.Join("; ", outcome.Skipped.Select(s => $"{s.Key}: {s.Value}")));
        // A blocked round is resolved in the same transaction as the takeover: whoever sees the new primary sees the alert cleared.
        string? wasBlocked;
        lock (g.Gate)
        {
            wasBlocked = g.Blocked;
        }

        TxnOp[] resolved = wasBlocked is null ? [] : [Resolution(g, round, $"{outcome.To} promoted")];
        if (await TakeOverAsync(registry, metrics, logger, g, new VersionedLeader(leader, revision), outcome.To!, round.Cause, detected, ct, evidence, resolved).ConfigureAwait(false))
        {
            if (wasBlocked is not null)
            {
                metrics.Blocked(g.Name, false);
            }
        }
    }

    /// <summary>Records, once per reason, that a failover is needed but no member can be shown to hold every acknowledged write.</summary>
    private async Task BlockAsync(GroupRuntime g, PositionRound round, PromotionOutcome outcome, CancellationToken ct)
    {
        lock (g.Gate)
        {
            if (g.Blocked is not null)
            {
                return; // already said; the round stays open and any new answer is looked at on the next pass
            }

            g.Blocked = outcome.Reason;
            g.Bump();
        }

        GroupLog.Blocked(logger, g.Name, round.Cause, outcome.Reason);
        metrics.Blocked(g.Name, true);
        await registry.Store.TxnAsync(new TxnRequest([], [registry.Events.Append(new RegistryEvent
        {
            Type = EventTypes.FailoverBlocked, Time = registry.Time.GetUtcNow(), Service = g.Name, Instance = round.Failed, From = "needed", To = "blocked",
            Cause = outcome.Reason,
            Evidence = new Dictionary<string, object?> { ["round"] = round.Id, ["trigger"] = round.Cause, ["epoch"] = round.Epoch, ["members"] = outcome.Skipped },
        })], []), ct).ConfigureAwait(false);
    }

    /// <summary>Closes the open round; if it had been blocked, records that it is no longer (resolving the alert).</summary>
    private async Task CloseRoundAsync(GroupRuntime g, string why, CancellationToken ct)
    {
        string? wasBlocked;
        PositionRound? round;
        lock (g.Gate)
        {
            (round, wasBlocked) = (g.Round, g.Blocked);
            if (round is null)
            {
                return;
            }

            g.Round = null;
            g.Blocked = null;
            g.Bump();
        }

        if (wasBlocked is not null)
        {
            metrics.Blocked(g.Name, false);
            await registry.Store.TxnAsync(new TxnRequest([], [Resolution(g, round, why)], []), ct).ConfigureAwait(false);
        }
    }

    private TxnOp Resolution(GroupRuntime g, PositionRound round, string why) => registry.Events.Append(new RegistryEvent
    {
        Type = EventTypes.FailoverBlocked, Time = registry.Time.GetUtcNow(), Service = g.Name, Instance = round.Failed, From = "blocked", To = "resolved",
        Cause = why, Evidence = new Dictionary<string, object?> { ["round"] = round.Id },
    });

    /// <summary>
    /// Makes <paramref name="to"/> primary in the next epoch: a fresh lease, then one transaction that checks the leader record
    /// is still the one observed and writes the new record, the lease marker and the event. Returns false when it lost the race.
    /// </summary>
    public static async Task<bool> TakeOverAsync(
        GroupRegistry registry, GroupMetrics metrics, ILogger logger, GroupRuntime g, VersionedLeader observed, string to, string cause,
        DateTimeOffset detected, CancellationToken ct, string? evidence = null, IEnumerable<TxnOp>? alongside = null)
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
            .. alongside ?? [],
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
            g.Drill = null;
            g.Round = null;
            g.Blocked = null;
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
