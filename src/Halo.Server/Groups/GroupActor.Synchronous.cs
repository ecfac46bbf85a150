using System.Text.Json;
using Halo.Core.Failover;
using Halo.Core.Registry;
using Halo.Core.Serialization;
using Halo.Store;

namespace Halo.Server.Groups;

/// <summary>
/// Keeps a synchronous group's primary waiting for healthy standbys (docs/postgres.md, "Synchronous mode"), in the order that
/// keeps the stored record a superset of what the primary waits for: the record grows before the primary's setting, and shrinks
/// only after the primary has reported the smaller setting applied for <see cref="SyncSettle"/> (every walsender has reloaded by then).
/// A new epoch starts with every other member in the record, written in the same transaction as the leader record.
/// </summary>
internal sealed partial class GroupActor
{
    /// <summary>How long an applied, smaller setting must have been reported before the record shrinks to it.</summary>
    public static readonly TimeSpan SyncSettle = TimeSpan.FromMilliseconds(500);

    /// <summary>The operation that starts epoch <paramref name="next"/>'s record, for the takeover transaction; none when asynchronous.</summary>
    private IEnumerable<TxnOp> SynchronousOnTakeOver(GroupState s, LeaderRecord next)
    {
        if (s.Policy.Synchronous == SynchronousMode.Off)
        {
            return [];
        }

        var record = new SyncRecord(next.Epoch, s.Members.Keys.Where(m => m != next.Member).ToList(), s.Policy.SynchronousCount);
        return [TxnOp.Put(GroupKeys.Sync(Name), JsonSerializer.SerializeToUtf8Bytes(record, HaloJson.Options))];
    }

    /// <summary>After a successful takeover: the new primary is asked to wait for every other member until the upkeep narrows it.</summary>
    private static GroupState SynchronousTookOver(GroupState s, LeaderRecord next, long revision)
    {
        if (s.Policy.Synchronous == SynchronousMode.Off)
        {
            return s;
        }

        var others = s.Members.Keys.Where(m => m != next.Member).ToList();
        var record = new SyncRecord(next.Epoch, others, s.Policy.SynchronousCount);
        return s with { Sync = SyncState.None with { Record = record, Revision = revision, Wanted = new SyncPlan(others, SyncRecord.Format(others, s.Policy.SynchronousCount), false) } };
    }

    /// <summary>One upkeep step, inside the decision turn.</summary>
    private async Task MaintainSynchronousAsync(CancellationToken ct)
    {
        var s = State;
        var now = Now;
        if (s.Policy.Synchronous == SynchronousMode.Off || s.Leader is not { } leader || !s.Confirmed || s.Pending is not null ||
            !s.Members.TryGetValue(leader.Member, out var primary) || primary.Report is not { } report || report.Epoch != leader.Epoch)
        {
            return;
        }

        var streaming = report.StreamingStandbys ?? [];
        var notStreaming = s.Sync.NotStreamingSince;
        foreach (var m in s.Members.Keys.Where(m => m != leader.Member))
        {
            notStreaming = streaming.Contains(m) ? notStreaming.Remove(m) : notStreaming.ContainsKey(m) ? notStreaming : notStreaming.Add(m, now);
        }

        s = s with { Sync = s.Sync with { NotStreamingSince = notStreaming } };
        Publish(s, visible: false);
        var record = s.Sync.Record is { } r && r.Epoch == leader.Epoch ? r : null;
        var current = s.Sync.Wanted?.Members ?? record?.Members ?? [];
        var plan = SyncPlanner.Plan(s.Policy, leader.Member, s.Members.Values.Select(m => m.State()).ToList(), streaming, current, notStreaming, now);
        if (s.Sync.Wanted is { } wanted && wanted.Names == plan.Names)
        {
            plan = wanted;
        }

        if (s.Sync.Wanted?.Names != plan.Names)
        {
            // Grow the record first: it must name every standby the primary may wait for before the primary is told to.
            var union = (record?.Members ?? []).Union(plan.Members).Order(StringComparer.Ordinal).ToList();
            if ((record is null || !union.SequenceEqual(record.Members)) && !await WriteSyncAsync(leader, union, null, ct).ConfigureAwait(false))
            {
                return;
            }

            Publish(State with { Sync = State.Sync with { Wanted = plan, AppliedAt = null } });
            GroupLog.SynchronousChanged(_ctx.Logger, Name, plan.Names, plan.Degraded);
            return;
        }

        if (report.SynchronousStandbys != plan.Names || record is null || record.Members.SequenceEqual(plan.Members))
        {
            return;
        }

        var appliedAt = s.Sync.AppliedAt ?? now;
        Publish(s with { Sync = s.Sync with { AppliedAt = appliedAt } }, visible: false);
        if (now - appliedAt >= SyncSettle)
        {
            // Shrink after the primary has applied the smaller setting. Crossing "enough standbys" either way is an event (and alert).
            var wasEnough = record.Members.Count >= s.Policy.SynchronousCount;
            var isEnough = plan.Members.Count >= s.Policy.SynchronousCount;
            var type = wasEnough && !isEnough ? EventTypes.SynchronousDegraded : !wasEnough && isEnough ? EventTypes.SynchronousRestored : null;
            await WriteSyncAsync(leader, plan.Members, type, ct).ConfigureAwait(false);
        }
    }

    private async Task<bool> WriteSyncAsync(LeaderRecord leader, IReadOnlyList<string> members, string? eventType, CancellationToken ct)
    {
        var s = State;
        var record = new SyncRecord(leader.Epoch, members, s.Policy.SynchronousCount);
        var ops = new List<TxnOp> { TxnOp.Put(GroupKeys.Sync(Name), JsonSerializer.SerializeToUtf8Bytes(record, HaloJson.Options)) };
        if (eventType is not null)
        {
            ops.Add(_ctx.Events.Append(new RegistryEvent
            {
                Type = eventType, Time = Now, Service = Name, Instance = leader.Member,
                Cause = eventType == EventTypes.SynchronousDegraded
                    ? $"fewer than {s.Policy.SynchronousCount} healthy standbys: commits no longer wait for one ({s.Policy.Synchronous} mode)"
                    : $"commits wait for {s.Policy.SynchronousCount} of {string.Join(", ", members)} again",
                Evidence = new Dictionary<string, object?> { ["epoch"] = leader.Epoch, ["standbys"] = members },
            }));
        }

        // Only the controller of the current epoch may write it: the leader record must be the one this decision read.
        var result = await Store.TxnAsync(new TxnRequest([Compare.ModRevisionIs(GroupKeys.Leader(Name), s.LeaderRevision)], ops, []), ct).ConfigureAwait(false);
        if (result.Succeeded)
        {
            SawRevision(result.Revision);
            Publish(State with { Sync = State.Sync with { Record = record, Revision = result.Revision } });
        }

        return result.Succeeded;
    }
}
