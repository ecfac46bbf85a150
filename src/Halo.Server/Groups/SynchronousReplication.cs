using System.Text.Json;
using Halo.Core.Failover;
using Halo.Core.Registry;
using Halo.Core.Serialization;
using Halo.Store;
using Microsoft.Extensions.Logging;

namespace Halo.Server.Groups;

/// <summary>One group's synchronous-replication state in the server; guarded by the group's gate.</summary>
internal sealed class SyncRuntime
{
    /// <summary>The stored record (superset of what the primary waits for), and its ModRevision.</summary>
    public SyncRecord? Record { get; private set; }
    public long Revision { get; private set; }
    /// <summary>What the primary is asked to wait for.</summary>
    public SyncPlan? Wanted { get; set; }
    /// <summary>When the controller first saw the primary report <see cref="Wanted"/> applied.</summary>
    public DateTimeOffset? AppliedAt { get; set; }
    /// <summary>Since when each member has not been streaming from the primary.</summary>
    public Dictionary<string, DateTimeOffset> NotStreamingSince { get; } = new(StringComparer.Ordinal);

    public void Load(SyncRecord record, long revision) => (Record, Revision) = (record, revision);

    /// <summary>The synchronous_standby_names the primary must apply: "" when the group is asynchronous.</summary>
    public string NamesFor(GroupPolicy policy) => policy.Synchronous == SynchronousMode.Off ? "" : Wanted?.Names ?? SyncRecord.Format(Record?.Members ?? [], policy.SynchronousCount);
}

/// <summary>
/// Keeps a synchronous group's primary waiting for healthy standbys (docs/postgres.md, "Synchronous mode"), in the order that
/// keeps the stored record a superset of what the primary waits for: the record grows before the primary's setting, and shrinks
/// only after the primary has reported the smaller setting applied for <see cref="Settle"/> (every walsender has reloaded by then).
/// A new epoch starts with every other member in the record, written in the same transaction as the leader record.
/// </summary>
internal static class SynchronousReplication
{
    /// <summary>How long an applied, smaller setting must have been reported before the record shrinks to it.</summary>
    public static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(500);

    /// <summary>The operation that starts epoch <paramref name="next"/>'s record, for the takeover transaction; none when asynchronous.</summary>
    public static IEnumerable<TxnOp> OnTakeOver(GroupRuntime g, LeaderRecord next)
    {
        if (g.Policy.Synchronous == SynchronousMode.Off)
        {
            return [];
        }

        List<string> others;
        lock (g.Gate)
        {
            others = g.Members.Keys.Where(m => m != next.Member).Order(StringComparer.Ordinal).ToList();
        }

        var record = new SyncRecord(next.Epoch, others, g.Policy.SynchronousCount);
        return [TxnOp.Put(GroupKeys.Sync(g.Name), JsonSerializer.SerializeToUtf8Bytes(record, HaloJson.Options))];
    }

    /// <summary>After a successful takeover: the new primary is asked to wait for every other member until the controller narrows it.</summary>
    public static void TookOver(GroupRuntime g, LeaderRecord next, long revision)
    {
        if (g.Policy.Synchronous == SynchronousMode.Off)
        {
            return;
        }

        var others = g.Members.Keys.Where(m => m != next.Member).Order(StringComparer.Ordinal).ToList();
        g.Sync.Load(new SyncRecord(next.Epoch, others, g.Policy.SynchronousCount), revision);
        g.Sync.Wanted = new SyncPlan(others, SyncRecord.Format(others, g.Policy.SynchronousCount), false);
        g.Sync.AppliedAt = null;
        g.Sync.NotStreamingSince.Clear();
    }

    /// <summary>One maintenance step for <paramref name="g"/>; called by the controller after each decision pass.</summary>
    public static async Task MaintainAsync(GroupRegistry registry, GroupRuntime g, ILogger logger, CancellationToken ct)
    {
        var now = registry.Time.GetUtcNow();
        SyncPlan plan;
        SyncRecord? record;
        LeaderRecord leader;
        long leaderRevision;
        string? applied;
        lock (g.Gate)
        {
            if (g.Policy.Synchronous == SynchronousMode.Off || g.Leader is not { } l || !g.Confirmed || g.Pending is not null ||
                !g.Members.TryGetValue(l.Member, out var primary) || primary.Report is not { } report || report.Epoch != l.Epoch)
            {
                return;
            }

            (leader, leaderRevision, applied) = (l, g.LeaderRevision, report.SynchronousStandbys);
            var streaming = report.StreamingStandbys ?? [];
            foreach (var m in g.Members.Keys.Where(m => m != l.Member))
            {
                if (streaming.Contains(m))
                {
                    g.Sync.NotStreamingSince.Remove(m);
                }
                else
                {
                    g.Sync.NotStreamingSince.TryAdd(m, now);
                }
            }

            record = g.Sync.Record is { } r && r.Epoch == l.Epoch ? r : null;
            var current = g.Sync.Wanted?.Members ?? record?.Members ?? [];
            plan = SyncPlanner.Plan(g.Policy, l.Member, g.Members.Values.Select(m => m.State()).ToList(), streaming, current, g.Sync.NotStreamingSince, now);
            if (g.Sync.Wanted is { } wanted && wanted.Names == plan.Names)
            {
                plan = wanted;
            }
        }

        if (g.Sync.Wanted?.Names != plan.Names)
        {
            // Grow the record first: it must name every standby the primary may wait for before the primary is told to.
            var union = (record?.Members ?? []).Union(plan.Members).Order(StringComparer.Ordinal).ToList();
            if (record is null || !union.SequenceEqual(record.Members))
            {
                if (!await WriteAsync(registry, g, leader, leaderRevision, union, null, ct).ConfigureAwait(false))
                {
                    return;
                }
            }

            lock (g.Gate)
            {
                g.Sync.Wanted = plan;
                g.Sync.AppliedAt = null;
                g.Bump();
            }

            GroupLog.SynchronousChanged(logger, g.Name, plan.Names, plan.Degraded);
            return;
        }

        if (applied != plan.Names || record is null || record.Members.SequenceEqual(plan.Members))
        {
            return;
        }

        lock (g.Gate)
        {
            g.Sync.AppliedAt ??= now;
        }

        if (now - g.Sync.AppliedAt >= Settle)
        {
            // Shrink after the primary has applied the smaller setting. Crossing "enough standbys" either way is an event (and alert).
            var wasEnough = record.Members.Count >= g.Policy.SynchronousCount;
            var isEnough = plan.Members.Count >= g.Policy.SynchronousCount;
            var type = wasEnough && !isEnough ? EventTypes.SynchronousDegraded : !wasEnough && isEnough ? EventTypes.SynchronousRestored : null;
            await WriteAsync(registry, g, leader, leaderRevision, plan.Members, type, ct).ConfigureAwait(false);
        }
    }

    private static async Task<bool> WriteAsync(
        GroupRegistry registry, GroupRuntime g, LeaderRecord leader, long leaderRevision, IReadOnlyList<string> members, string? eventType, CancellationToken ct)
    {
        var record = new SyncRecord(leader.Epoch, members, g.Policy.SynchronousCount);
        var ops = new List<TxnOp> { TxnOp.Put(GroupKeys.Sync(g.Name), JsonSerializer.SerializeToUtf8Bytes(record, HaloJson.Options)) };
        if (eventType is not null)
        {
            ops.Add(registry.Events.Append(new RegistryEvent
            {
                Type = eventType, Time = registry.Time.GetUtcNow(), Service = g.Name, Instance = leader.Member,
                Cause = eventType == EventTypes.SynchronousDegraded
                    ? $"fewer than {g.Policy.SynchronousCount} healthy standbys: commits no longer wait for one ({g.Policy.Synchronous} mode)"
                    : $"commits wait for {g.Policy.SynchronousCount} of {string.Join(", ", members)} again",
                Evidence = new Dictionary<string, object?> { ["epoch"] = leader.Epoch, ["standbys"] = members },
            }));
        }

        // Only the controller of the current epoch may write it: the leader record must be the one this decision read.
        var result = await registry.Store.TxnAsync(new TxnRequest([Compare.ModRevisionIs(GroupKeys.Leader(g.Name), leaderRevision)], ops, []), ct).ConfigureAwait(false);
        if (result.Succeeded)
        {
            lock (g.Gate)
            {
                g.Sync.Load(record, result.Revision);
                g.Bump();
            }
        }

        return result.Succeeded;
    }
}
