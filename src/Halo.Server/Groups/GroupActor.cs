using System.Text.Json;
using Halo.Core.Failover;
using Halo.Core.Registry;
using Halo.Core.Serialization;
using Halo.Server.Events;
using Halo.Store;
using Microsoft.Extensions.Logging;

namespace Halo.Server.Groups;

/// <summary>What a group's actor needs from its server.</summary>
internal sealed record GroupContext(
    IStore Store, EventLog Events, TimeProvider Time, GroupsOptions Options, GroupMetrics Metrics, ILogger Logger, Action Wake,
    Func<IReadOnlyList<Compare>> Fence, GroupLease Lease);

/// <summary>
/// The one owner of a group's state. Every change (a report, a policy write, a decision, a switchover step, a drill, a
/// deletion) runs as a turn: one at a time, each starting from the state the previous one published. Readers take the
/// published <see cref="State"/> snapshot and never lock; nothing outside this class changes a group.
/// </summary>
internal sealed partial class GroupActor
{
    private readonly GroupContext _ctx;
    private readonly SemaphoreSlim _turn = new(1, 1);
    private Published _current;

    /// <summary>A state and the signal that completes when the next visible state replaces it, swapped together.</summary>
    private sealed record Published(GroupState State, TaskCompletionSource Next);

    /// <summary>An actor for <paramref name="initial"/>, as the store held it at <paramref name="revision"/> (0: not read from the store).</summary>
    public GroupActor(GroupContext context, GroupState initial, long revision = 0)
    {
        _ctx = context;
        _seenRevision = revision;
        _current = new Published(initial with { Version = Math.Max(initial.Version, revision * VersionsPerRevision) }, NewSignal());
    }

    public string Name => State.Name;

    /// <summary>The latest published state.</summary>
    public GroupState State => Volatile.Read(ref _current).State;

    /// <summary>True once the group was deleted; its last state stays readable for long polls that were waiting.</summary>
    public bool Deleted { get; private set; }

    private IStore Store => _ctx.Store;
    private DateTimeOffset Now => _ctx.Time.GetUtcNow();

    /// <summary>
    /// How many versions one store revision spans. A group's version is the newest store revision its decider has seen (read or
    /// written) times this, plus the changes it published since (docs/ha.md, "Group versions follow the store's revision"): one
    /// order across servers, since a new decider starts from a revision of its own write, above every revision the previous
    /// one saw. 1,000,000 keeps the revision readable in the number and stays below 2^53 (JSON readers) up to revision 9e9.
    /// </summary>
    internal const long VersionsPerRevision = 1_000_000;

    // The newest store revision this actor has seen, for the next version.
    private long _seenRevision;

    /// <summary>Notes a store revision this actor read or wrote at; the next visible change gets a version in its block.</summary>
    private void SawRevision(long revision)
    {
        var seen = Interlocked.Read(ref _seenRevision);
        while (revision > seen && Interlocked.CompareExchange(ref _seenRevision, revision, seen) is var was && was != seen)
        {
            seen = was;
        }
    }

    /// <summary>The version the next visible change of <paramref name="s"/> gets.</summary>
    private long NextVersion(GroupState s) => Math.Max(s.Version + 1, Interlocked.Read(ref _seenRevision) * VersionsPerRevision);

    /// <summary>
    /// Completes when the version passes <paramref name="after"/>; at once for a version above the current one, which this
    /// decider never handed out (a newer decider's, seen before a change of membership came back here; or a number from before
    /// the versions followed the store): waiting for it could miss every change until it is passed. Consul's blocking
    /// queries treat an index that went backwards the same way.
    /// </summary>
    public Task ChangedAfter(long after)
    {
        var p = Volatile.Read(ref _current);
        return p.State.Version != after ? Task.CompletedTask : p.Next.Task;
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Replaces the state; a visible change bumps the version and wakes long polls. Only inside a turn.</summary>
    private void Publish(GroupState next, bool visible = true)
    {
        var old = _current;
        if (!visible)
        {
            Volatile.Write(ref _current, old with { State = next with { Version = old.State.Version } });
            return;
        }

        Volatile.Write(ref _current, new Published(next with { Version = NextVersion(old.State) }, NewSignal()));
        old.Next.TrySetResult();
    }

    private async Task<T> TurnAsync<T>(Func<GroupState, Task<T>> body, CancellationToken ct)
    {
        await _turn.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            return await body(State).ConfigureAwait(false);
        }
        finally
        {
            _turn.Release();
        }
    }

    /// <summary>Records a report and answers with the member's assignment, renewing the primary's lease when the report is from it.</summary>
    public async Task<Assignment> ReportAsync(string member, MemberReport report, CancellationToken ct)
    {
        var arrived = _ctx.Time.GetTimestamp();
        var (persist, renewLease, confirmed) = await TurnAsync(s => Task.FromResult(Record(s, member, report)), ct).ConfigureAwait(false);
        var recorded = _ctx.Time.GetTimestamp();
        if (confirmed is { } leaderRevision)
        {
            await PersistConfirmationAsync(leaderRevision, report.Epoch, ct).ConfigureAwait(false);
        }

        if (renewLease != 0 && report.FailsafeMembers is { } asks)
        {
            await RecordFailsafeAsync(member, report.Epoch, asks, ct).ConfigureAwait(false);
        }

        if (persist)
        {
            await Store.PutAsync(GroupKeys.Member(Name, member), JsonSerializer.SerializeToUtf8Bytes(new MemberRecord(report.Address), HaloJson.Options), 0, ct)
                .ConfigureAwait(false);
        }

        var renewing = _ctx.Time.GetTimestamp();
        // Also a cancellation counts as the store's failure: the server that forwarded the report gave up on this one, too slow.
        var renewed = renewLease != 0 && await _ctx.Lease.RenewAsync(Name, renewLease, cancelIsStoreFailure: true, ct).ConfigureAwait(false);
        if (renewLease != 0)
        {
            SlowRenewal(member, arrived, recorded, renewing);
        }

        var state = State;
        // The lease renewed belongs to the epoch the report named; if the leader changed meanwhile, the renewal counts for nothing.
        return state.AssignmentFor(member, renewed && state.Leader?.LeaseId == renewLease);
    }

    /// <summary>
    /// Logs a primary's renewal that took longer than <see cref="SlowRenewalAfter"/> here (at most once a second per group), with
    /// where the time went: waiting for the group's turn, the store writes a report may make, the renewal itself.
    /// </summary>
    private void SlowRenewal(string member, long arrived, long recorded, long renewing)
    {
        var time = _ctx.Time;
        var took = time.GetElapsedTime(arrived);
        var last = Interlocked.Read(ref _lastSlowRenewalLog);
        if (took < SlowRenewalAfter || (last != 0 && time.GetElapsedTime(last) < TimeSpan.FromSeconds(1)) ||
            Interlocked.CompareExchange(ref _lastSlowRenewalLog, time.GetTimestamp(), last) != last)
        {
            return;
        }

        GroupLog.SlowRenewal(_ctx.Logger, Name, member, took.TotalMilliseconds, time.GetElapsedTime(arrived, recorded).TotalMilliseconds,
            time.GetElapsedTime(recorded, renewing).TotalMilliseconds, time.GetElapsedTime(renewing).TotalMilliseconds);
    }

    /// <summary>A renewal slower than this is logged (event 3024): a third of the default renew deadline (1.5 s).</summary>
    internal static readonly TimeSpan SlowRenewalAfter = TimeSpan.FromMilliseconds(500);

    private long _lastSlowRenewalLog;

    private (bool Persist, long RenewLease, long? Confirmed) Record(GroupState s, string member, MemberReport report)
    {
        var now = Now;
        s.Members.TryGetValue(member, out var before);
        var persist = before is null || before.Address != report.Address;
        var m = (before ?? MemberRuntime.New(member, report.Address)) with
        {
            Address = report.Address, Report = report, LastReport = now, DbDownSince = report.DbUp ? null : before?.DbDownSince ?? now,
            LastUpOffset = report.DbUp ? report.Offset : before?.LastUpOffset ?? 0,
            FencedSince = report is { DbUp: true, Role: MemberRole.Primary, Fenced: true } ? before?.FencedSince ?? now : null,
        };
        var next = s with { Members = s.Members.SetItem(member, m) };
        if (s.Drill is { } d && d.Member == member && report.DrillDone >= d.Id)
        {
            next = next with { Drill = null };
        }

        var leader = s.Leader;
        var renew = GroupLease.MayRenew(leader, member, report, byDecider: true);
        if (renew && report.Role == MemberRole.Primary && !report.Fenced && !s.Confirmed)
        {
            next = next with { Confirmed = true };
            if (s.LastFailover is { PromotedAt: null } f && f.Epoch == leader!.Epoch)
            {
                next = next with { LastFailover = f with { PromotedAt = now } };
                GroupLog.Promoted(_ctx.Logger, Name, member, f.Epoch, (now - f.DetectedAt).TotalSeconds);
                _ctx.Metrics.Promoted(Name, now - f.DetectedAt);
            }
        }

        var prev = before?.Report;
        if (prev?.DbUp == true && !report.DbUp)
        {
            GroupLog.DatabaseDown(_ctx.Logger, Name, member);
        }

        var visible = persist || !before!.Fresh(now, s.Policy) || prev is null || prev.Role != report.Role || prev.DbUp != report.DbUp ||
                      prev.Healthy != report.Healthy || prev.Fenced != report.Fenced || prev.Epoch != report.Epoch ||
                      prev.SynchronousStandbys != report.SynchronousStandbys ||
                      !(prev.StreamingStandbys ?? []).SequenceEqual(report.StreamingStandbys ?? []) ||
                      next.Confirmed != s.Confirmed || next.Drill != s.Drill;
        Publish(next, visible);
        if (visible || s.Round is { } round && report.Round >= round.Id && (prev?.Round ?? 0) < round.Id)
        {
            _ctx.Wake(); // may change a decision: the controller looks at once instead of at its next tick
        }

        return (persist, renew ? leader!.LeaseId : 0, next.Confirmed && !s.Confirmed ? s.LeaderRevision : null);
    }

    /// <summary>
    /// Changes the policy by compare-and-set on its store revision: with <paramref name="ifMatch"/>, only if the stored policy is
    /// still that revision; otherwise <paramref name="change"/> is re-applied to the freshest stored policy until the write lands,
    /// so a pause never undoes a concurrent edit and the other way round. Returns the new state, or null on an If-Match conflict.
    /// </summary>
    public Task<GroupState?> UpdatePolicyAsync(Func<GroupPolicy, GroupPolicy> change, long? ifMatch, string? eventType, CancellationToken ct) =>
        TurnAsync<GroupState?>(async s =>
        {
            var expected = ifMatch ?? s.PolicyRevision;
            for (var attempt = 0; ; attempt++)
            {
                var policy = change(s.Policy);
                var key = GroupKeys.Policy(Name);
                var ops = new List<TxnOp> { TxnOp.Put(key, JsonSerializer.SerializeToUtf8Bytes(policy, HaloJson.Options)) };
                if (eventType is not null)
                {
                    ops.Add(_ctx.Events.Append(new RegistryEvent { Type = eventType, Time = Now, Service = Name, Cause = "by request" }));
                }

                var compare = expected == 0 ? Compare.Missing(key) : Compare.ModRevisionIs(key, expected);
                var result = await Store.TxnAsync(new TxnRequest([compare], ops, [TxnOp.Get(key)]), ct).ConfigureAwait(false);
                if (result.Succeeded)
                {
                    SawRevision(result.Revision);
                    Publish(s with { Policy = policy, PolicyRevision = result.Revision });
                    if (eventType is EventTypes.Paused or EventTypes.Resumed)
                    {
                        GroupLog.Paused(_ctx.Logger, Name, eventType);
                    }

                    _ctx.Wake();
                    return State;
                }

                // Someone else wrote the policy (another server, or a request that raced this one): take the stored one.
                var stored = result.Gets.Count > 0 ? result.Gets[0] : null;
                s = s with { Policy = stored is null ? s.Policy : GroupRegistry.Deserialize<GroupPolicy>(stored) ?? s.Policy, PolicyRevision = stored?.ModRevision ?? 0 };
                Publish(s);
                if (ifMatch is not null || attempt >= 5)
                {
                    return null;
                }

                expected = s.PolicyRevision;
            }
        }, ct);

    /// <summary>Asks the confirmed primary's agent to carry out a drill; null when the group has no confirmed primary.</summary>
    /// <remarks>The drill is in the store (<see cref="DecidedRecord"/>) before this returns, so a decider that dies before the
    /// agent carried it out does not take it along; written best effort, the next decision pass writes it otherwise.</remarks>
    public async Task<PendingDrill?> StartDrillAsync(string mode, TimeSpan duration, long id, CancellationToken ct)
    {
        var started = await TurnAsync(s =>
        {
            if (s.Leader is not { } leader || !s.Confirmed)
            {
                return Task.FromResult<PendingDrill?>(null);
            }

            var drill = new PendingDrill(id, leader.Member, mode, duration, Now);
            Publish(s with { Drill = drill });
            GroupLog.Drill(_ctx.Logger, Name, mode, leader.Member);
            return Task.FromResult<PendingDrill?>(drill);
        }, ct).ConfigureAwait(false);
        if (started is not null)
        {
            await PersistDecidedAsync(ct).ConfigureAwait(false);
        }

        return started;
    }

    /// <summary>
    /// Deletes a member that no longer reports and is not the primary (its agent would re-create it with the next report).
    /// Returns null when done, or why not.
    /// </summary>
    public Task<string?> DeleteMemberAsync(string member, CancellationToken ct) =>
        TurnAsync<string?>(async s =>
        {
            if (!s.Members.TryGetValue(member, out var m))
            {
                return $"no member named '{member}'";
            }

            if (s.Leader?.Member == member)
            {
                return $"'{member}' is the primary of epoch {s.Leader.Epoch}; switch over to another member first";
            }

            if (m.Fresh(Now, s.Policy))
            {
                return $"'{member}' is still reporting; stop its agent first";
            }

            var deleted = await Store.TxnAsync(new TxnRequest([], [TxnOp.Delete(GroupKeys.Member(Name, member)), _ctx.Events.Append(new RegistryEvent
            {
                Type = EventTypes.MemberDeleted, Time = Now, Service = Name, Instance = member, Cause = "by request",
            })], []), ct).ConfigureAwait(false);
            SawRevision(deleted.Revision);
            Publish(s with { Members = s.Members.Remove(member) });
            return null;
        }, ct);

    /// <summary>
    /// Deletes the group when none of its members reports any more: its keys and an event in one transaction, then its lease.
    /// Returns null when done, or why not.
    /// </summary>
    public Task<string?> DeleteAsync(CancellationToken ct) =>
        TurnAsync<string?>(async s =>
        {
            if (s.Members.Values.FirstOrDefault(m => m.Fresh(Now, s.Policy)) is { } live)
            {
                return $"member '{live.Name}' is still reporting; stop the group's agents first";
            }

            var ops = new List<TxnOp>
            {
                TxnOp.Delete(GroupKeys.Policy(Name)), TxnOp.Delete(GroupKeys.Leader(Name)), TxnOp.Delete(GroupKeys.LeaseMarker(Name)), TxnOp.Delete(GroupKeys.Sync(Name)),
                TxnOp.Delete(GroupKeys.Confirmed(Name)), TxnOp.Delete(GroupKeys.Failsafe(Name)), TxnOp.Delete(GroupKeys.Decided(Name)),
                _ctx.Events.Append(new RegistryEvent { Type = EventTypes.GroupDeleted, Time = Now, Service = Name, Cause = "by request" }),
            };
            ops.AddRange(s.Members.Keys.Select(m => TxnOp.Delete(GroupKeys.Member(Name, m))));
            var key = GroupKeys.Policy(Name);
            var result = await Store.TxnAsync(new TxnRequest([Compare.ModRevisionIs(key, s.PolicyRevision)], ops, []), ct).ConfigureAwait(false);
            if (!result.Succeeded)
            {
                return "the group changed meanwhile; look again and retry";
            }

            Deleted = true;
            SawRevision(result.Revision);
            if (s.Leader is { } leader)
            {
                await RevokeQuietlyAsync(leader.LeaseId, ct).ConfigureAwait(false);
            }

            Publish(s with { Leader = null, Confirmed = false, Round = null, Blocked = null });
            _ctx.Metrics.Blocked(Name, false);
            return null;
        }, ct);

    private async Task RevokeQuietlyAsync(long leaseId, CancellationToken ct)
    {
        try
        {
            await Store.RevokeLeaseAsync(leaseId, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is LeaseNotFoundException or StoreUnavailableException)
        {
            // Already gone, or the store is away: the lease then lapses by itself.
        }
    }

    /// <summary>What a member key holds.</summary>
    internal sealed record MemberRecord(string Address);
}
