using Halo.Core.Failover;
using Halo.Core.Registry;
using Halo.Store;

namespace Halo.Server.Groups;

/// <summary>The decisions: when to fail over, the position round, whom to promote, the takeover itself.</summary>
internal sealed partial class GroupActor
{
    /// <summary>
    /// One decision pass (then one step of synchronous-replication upkeep), as one turn. Whether the primary's lease lives is read
    /// from the store before the turn, not inside it: every report waits for the turn, and a primary's renewal must not wait
    /// behind the decider's store read (under load a linearizable read takes hundreds of milliseconds, every 50 ms).
    /// </summary>
    public async Task DecideAsync(CancellationToken ct)
    {
        var seen = State.Leader;
        var read = seen is null ? null : await Store.GetAsync(GroupKeys.LeaseMarker(Name), ct).ConfigureAwait(false);
        var marker = read?.Item;
        if (read is not null)
        {
            SawRevision(read.Revision);
        }

        await TurnAsync(async s =>
        {
            // The read counts only for the record it was taken for. Reading early is safe: the record's lease was attached to the
            // marker before the record could be seen, and a lease that was gone at the read never comes back (a restore or a
            // takeover grants a new one, which changes the record); a lease alive at the read and lapsed since is found next pass.
            if (Deleted || !Equals(s.Leader, seen))
            {
                return 0;
            }

            var leaseAlive = seen is not null && marker?.LeaseId == seen.LeaseId;
            if (await RestoreLapsedLeaseAsync(s, leaseAlive, ct).ConfigureAwait(false) || InHandoffGrace)
            {
                return 0;
            }

            await DecideTurnAsync(s, leaseAlive, ct).ConfigureAwait(false);
            await MaintainSynchronousAsync(ct).ConfigureAwait(false);
            return 0;
        }, ct).ConfigureAwait(false);

        // What users see of the last failover, a switchover, a drill: into the store for the next decider, once it changed.
        await PersistDecidedAsync(ct).ConfigureAwait(false);
    }

    private async Task DecideTurnAsync(GroupState s, bool leaseAlive, CancellationToken ct)
    {
        if (s.Pending is not null)
        {
            return; // a switchover owns the group until it finishes
        }

        var leader = s.Leader;
        var now = Now;
        var view = s.DecisionView(leaseAlive, now);
        var trigger = FailoverPlanner.Decide(view);
        if (trigger.Cause == "primary-fenced" && leader is not null && (StoreFailedRenewalOf(leader) || RestoredRecently(leader, s.Policy)))
        {
            // The primary fenced itself because the store failed to renew its lease here, or because its lease lapsed and was
            // just restored: not its failure. The next renewal the store answers lifts its fence; if the lease lapses first,
            // the lapsed-lease rule restores it (or, once it no longer vouches for its epoch, the usual rules replace it).
            return;
        }

        if (trigger.Action is FailoverAction.None)
        {
            if (s.TriggerSeen is not null || s.Round is not null)
            {
                await CloseRoundAsync(s with { TriggerSeen = null }, $"no longer needed: {trigger.Cause}", ct).ConfigureAwait(false);
            }

            return;
        }

        var detected = s.TriggerSeen ?? (trigger.Cause.StartsWith("db-down", StringComparison.Ordinal) && leader is not null &&
            s.Members.TryGetValue(leader.Member, out var failed) && failed.DbDownSince is { } since ? since : now);
        if (s.Round is not { } round || round.Failed != leader?.Member || round.Epoch != (leader?.Epoch ?? 0))
        {
            // Ask every agent for its position now: the round id goes out with the version bump (waking their long polls) and in
            // every report answer; a report naming it was probed after this moment, so its offset is final.
            var opened = new PositionRound(NextVersion(s), leader?.Member, leader?.Epoch ?? 0, trigger.Cause, now, now + _ctx.Options.PositionWait);
            Publish(s with { TriggerSeen = detected, Round = opened, Blocked = null });
            GroupLog.RoundOpened(_ctx.Logger, Name, opened.Id, trigger.Cause);
            return;
        }

        var outcome = PromotionRule.Evaluate(view, round);
        if (outcome.Verdict is PromotionVerdict.Wait)
        {
            return;
        }

        if (outcome.Verdict is PromotionVerdict.Blocked)
        {
            await BlockAsync(s, round, outcome, ct).ConfigureAwait(false);
            return;
        }

        if (trigger.Cause == "lease-expired" && leader is not null && outcome.To == leader.Member && s.Blocked is null &&
            s.Members.TryGetValue(leader.Member, out var same) && same.Fresh(now, s.Policy) &&
            same.Report is { DbUp: true, Role: MemberRole.Primary } intact && intact.Epoch == leader.Epoch && intact.PrimaryOfEpoch == leader.Epoch)
        {
            // The round chose the lapsed primary itself, and it reports as the primary of its epoch that has not restarted since
            // its promotion: its renewals stopped reaching the store (its agent or the servers starved, or cut off for a
            // moment), nothing else happened. A new epoch for the same member would change nothing but the number; restore its
            // lease in the same epoch instead, as the lapsed-lease rule does (docs/ha.md).
            await RestoreLeaseAsync(s with { TriggerSeen = null, Round = null }, leader, ct).ConfigureAwait(false);
            return;
        }

        var evidence = outcome.Reason + (outcome.Skipped.Count == 0 ? "" : "; " + string.Join("; ", outcome.Skipped.Select(x => $"{x.Key}: {x.Value}")));
        // A blocked round is resolved in the same transaction as the takeover: whoever sees the new primary sees the alert cleared.
        TxnOp[] resolved = s.Blocked is null ? [] : [Resolution(round, $"{outcome.To} promoted")];
        if (await TakeOverAsync(s, new VersionedLeader(leader, s.LeaderRevision), outcome.To!, round.Cause, detected, evidence, resolved, ct).ConfigureAwait(false) &&
            s.Blocked is not null)
        {
            _ctx.Metrics.Blocked(Name, false);
        }
    }

    /// <summary>Records, once per round, that a failover is needed but no member can be shown to hold every acknowledged write.</summary>
    private async Task BlockAsync(GroupState s, PositionRound round, PromotionOutcome outcome, CancellationToken ct)
    {
        if (s.Blocked is not null)
        {
            return; // already said; the round stays open and every new answer is looked at on the next pass
        }

        var written = await Store.TxnAsync(new TxnRequest([], [_ctx.Events.Append(new RegistryEvent
        {
            Type = EventTypes.FailoverBlocked, Time = Now, Service = Name, Instance = round.Failed, From = "needed", To = "blocked", Cause = outcome.Reason,
            Evidence = new Dictionary<string, object?> { ["round"] = round.Id, ["trigger"] = round.Cause, ["epoch"] = round.Epoch, ["members"] = outcome.Skipped },
        })], []), ct).ConfigureAwait(false);
        SawRevision(written.Revision);
        Publish(s with { Blocked = outcome.Reason });
        GroupLog.Blocked(_ctx.Logger, Name, round.Cause, outcome.Reason);
        _ctx.Metrics.Blocked(Name, true);
    }

    /// <summary>Closes the open round; if it had been blocked, records that it is no longer (resolving the alert).</summary>
    private async Task CloseRoundAsync(GroupState s, string why, CancellationToken ct)
    {
        if (s.Blocked is not null && s.Round is { } round)
        {
            SawRevision((await Store.TxnAsync(new TxnRequest([], [Resolution(round, why)], []), ct).ConfigureAwait(false)).Revision);
            _ctx.Metrics.Blocked(Name, false);
        }

        Publish(s with { Round = null, Blocked = null });
    }

    private TxnOp Resolution(PositionRound round, string why) => _ctx.Events.Append(new RegistryEvent
    {
        Type = EventTypes.FailoverBlocked, Time = Now, Service = Name, Instance = round.Failed, From = "blocked", To = "resolved", Cause = why,
        Evidence = new Dictionary<string, object?> { ["round"] = round.Id },
    });

    /// <summary>
    /// Makes <paramref name="to"/> primary in the next epoch, inside a turn: a fresh lease, then one transaction that checks the
    /// leader record is still the one observed and writes the new record, the lease marker, the event and whatever goes
    /// <paramref name="alongside"/>. Returns false when it lost the race (another server changed the record): the state then
    /// takes the stored record, and the next pass decides again.
    /// </summary>
    private async Task<bool> TakeOverAsync(
        GroupState s, VersionedLeader observed, string to, string cause, DateTimeOffset detected, string? evidence, IEnumerable<TxnOp> alongside,
        CancellationToken ct)
    {
        var lease = await Store.GrantLeaseAsync(s.Policy.LeaseTtl, ct).ConfigureAwait(false);
        var now = Now;
        var previous = observed.Record;
        FailoverRecord Failover(LeaderRecord next) => new(next.Epoch, previous?.Member, next.Member, cause, detected, now, null, evidence);
        var records = new StoreLeaderRecords(Store, Name, next =>
        [
            TxnOp.Put(GroupKeys.LeaseMarker(Name), System.Text.Encoding.UTF8.GetBytes(next.Member), lease.Id),
            // The new epoch's failover record goes with the epoch: the next decider shows it even if this one dies right now.
            DecidedRecord.Put(Name, new DecidedRecord(Failover(next), null, null)),
            _ctx.Events.Append(new RegistryEvent
            {
                Type = previous is null ? EventTypes.Elected : cause == "switchover" ? EventTypes.Switchover : EventTypes.Failover,
                Time = now, Service = Name, Instance = next.Member, From = previous?.Member, To = next.Member, Cause = cause,
                Evidence = new Dictionary<string, object?> { ["epoch"] = next.Epoch, ["previousEpoch"] = previous?.Epoch ?? 0 },
            }),
            .. alongside,
            .. SynchronousOnTakeOver(s, next),
        ], _ctx.Fence());
        var taken = await LeaderElection.TryTakeOverAsync(records, observed, to, lease.Id, now, cause, ct).ConfigureAwait(false);
        if (taken is null)
        {
            GroupLog.LostRace(_ctx.Logger, Name);
            await RevokeQuietlyAsync(lease.Id, ct).ConfigureAwait(false);
            var current = await records.ReadAsync(ct).ConfigureAwait(false);
            var changed = current.Record?.Epoch != s.Leader?.Epoch || current.Record?.Member != s.Leader?.Member;
            Publish(s with { Leader = current.Record, LeaderRevision = current.Revision, Confirmed = s.Confirmed && !changed });
            return false;
        }

        var members = previous is not null && previous.Member != taken.Member && s.Members.TryGetValue(previous.Member, out var old)
            ? s.Members.SetItem(previous.Member, old with { DemotedAt = now })
            : s.Members;
        var failover = Failover(taken);
        Volatile.Write(ref _persisted, new DecidedRecord(failover, null, null));
        SawRevision(records.LastRevision);
        Publish(SynchronousTookOver(s, taken, records.LastRevision) with
        {
            Leader = taken, LeaderRevision = records.LastRevision, Confirmed = false, TriggerSeen = null, Drill = null, Round = null, Blocked = null,
            Members = members, LastFailover = failover, Pending = null, FenceLeader = false, // a switchover ends with its takeover
        });
        _ctx.Metrics.LeaderChanged(Name, cause);
        GroupLog.LeaderChanged(_ctx.Logger, Name, taken.Member, taken.Epoch, cause, previous?.Member, evidence);
        if (previous is not null)
        {
            // The old lease no longer guards anything; revoking it makes the old primary's next renewal fail at once.
            await RevokeQuietlyAsync(previous.LeaseId, ct).ConfigureAwait(false);
        }

        return true;
    }
}
