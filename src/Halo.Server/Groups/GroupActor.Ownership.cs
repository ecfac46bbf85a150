using System.Globalization;
using System.Text;
using System.Text.Json;
using Halo.Core.Failover;
using Halo.Core.Serialization;
using Halo.Store;

namespace Halo.Server.Groups;

/// <summary>
/// Which server decides the group (docs/ha.md, "One decider per group"). With several servers each group is owned by one
/// live server, like a service; only the owner's actor takes reports and decides, the others forward to it. An actor that
/// becomes owner starts from the store (its copy may be stale) and decides nothing for <see cref="GroupsOptions.HandoffGrace"/>,
/// so the members' agents reach it before it judges them: a control-plane failover does not cause a database failover.
/// </summary>
internal sealed partial class GroupActor
{
    private long _decideAfter;
    private volatile bool _owned;

    // The lease this server last restored (the lapsed-lease rule) and when, in UTC ticks of the server's clock.
    private long _restoredLease;
    private long _restoredAt;

    /// <summary>True while this server decides the group and its state is the one that counts.</summary>
    public bool Owned => _owned;

    /// <summary>Marks the group decided here from the state it holds (a single server, or a group this server just created).</summary>
    public void Own() => _owned = true;

    /// <summary>
    /// Takes the group over from the store's copy, read at store revision <paramref name="revision"/>: <paramref name="fresh"/>
    /// replaces the state (<see cref="StartDecidingTurnAsync"/>), and no decision is made before <paramref name="decideAfter"/>.
    /// False when another caller took it over first (the controller and a request both saw it new).
    /// </summary>
    public Task<bool> AcquireAsync(GroupState fresh, long revision, DateTimeOffset decideAfter, CancellationToken ct) => TurnAsync(async s =>
    {
        if (_owned)
        {
            return false; // taken over meanwhile: keep what it learned since
        }

        Interlocked.Exchange(ref _decideAfter, decideAfter.UtcTicks);
        await StartDecidingTurnAsync(fresh, revision, ct).ConfigureAwait(false);
        return true;
    }, ct);

    /// <summary>Starts deciding the group from the state this actor was loaded with (a single server at its start).</summary>
    public Task StartDecidingAsync(CancellationToken ct) => TurnAsync(async s =>
    {
        if (!_owned)
        {
            await StartDecidingTurnAsync(s, Interlocked.Read(ref _seenRevision), ct).ConfigureAwait(false);
        }

        return 0;
    }, ct);

    /// <summary>
    /// Inside a turn: <paramref name="fresh"/> (the store's copy at <paramref name="revision"/>) becomes the state this server
    /// decides on. A switchover the previous decider left unfinished is over (its driver, the caller's request, died with that
    /// server, and this one does not hold the primary's writes for it): it is logged and dropped. Then the decided record is
    /// written back: its revision starts this decider's version numbers above every one a previous decider handed out (its
    /// newest revision came before this write). A previous decider that is still alive is kept from overwriting the record by
    /// the same guards as its takeovers: its membership key (gone when it was removed) and the leader record it decided on.
    /// </summary>
    private async Task StartDecidingTurnAsync(GroupState fresh, long revision, CancellationToken ct)
    {
        // Should the write fail: above every version made from a revision up to the one the copy was read at.
        SawRevision(revision + 1);
        if (fresh.Pending is { } interrupted)
        {
            GroupLog.SwitchoverInterrupted(_ctx.Logger, Name, interrupted);
            fresh = fresh with { Pending = null, FenceLeader = false };
        }

        Volatile.Write(ref _persisted, null);
        Publish(fresh);
        _owned = true;
        await PersistDecidedAsync(ct).ConfigureAwait(false);
    }

    private readonly SemaphoreSlim _persist = new(1, 1);

    // The decided record as this decider last wrote it; null until it has (or after it stopped deciding).
    private DecidedRecord? _persisted;

    /// <summary>
    /// Writes what users see of the group beyond the leader record (<see cref="DecidedRecord"/>) when it differs from what this
    /// decider last wrote: only while it decides, only while the leader record is the one it decides on and its membership key
    /// is its own (<see cref="GroupContext.Fence"/>), and only while the group exists. Best effort: the next decision pass
    /// retries a write that failed or lost to a change of leader.
    /// </summary>
    private async Task PersistDecidedAsync(CancellationToken ct)
    {
        if (!_owned || Deleted)
        {
            return;
        }

        await _persist.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var s = State;
            var record = DecidedRecord.Of(s);
            if (record == Volatile.Read(ref _persisted))
            {
                return;
            }

            var leaderKey = GroupKeys.Leader(Name);
            Compare[] guards =
            [
                s.LeaderRevision == 0 ? Compare.Missing(leaderKey) : Compare.ModRevisionIs(leaderKey, s.LeaderRevision),
                new(GroupKeys.Policy(Name), CompareTarget.CreateRevision, CompareOp.Greater, 0),
                .. _ctx.Fence(),
            ];
            var result = await Store.TxnAsync(new TxnRequest(guards, [DecidedRecord.Put(Name, record)], []), ct).ConfigureAwait(false);
            if (result.Succeeded)
            {
                Volatile.Write(ref _persisted, record);
                SawRevision(result.Revision);
            }
        }
        catch (StoreUnavailableException)
        {
        }
        finally
        {
            _persist.Release();
        }
    }

    /// <summary>Another server decides the group now: stop deciding, and answer long polls held here so they ask again.</summary>
    public Task ReleaseAsync(CancellationToken ct) => TurnAsync(s =>
    {
        if (_owned)
        {
            _owned = false;
            Volatile.Write(ref _persisted, null);
            Publish(s);
        }

        return Task.FromResult(0);
    }, ct);

    /// <summary>True while a server that just took the group over waits for the members' agents to reach it.</summary>
    private bool InHandoffGrace => Now.UtcTicks < Interlocked.Read(ref _decideAfter);

    /// <summary>
    /// True during the new owner's own detection window: the handoff grace, then one lease TTL. The lease may have lapsed while
    /// no server could decide (the dead decider still a member, the primary's renewals answered by whichever server they
    /// reached); a lapse this owner did not watch is not evidence that the primary is dead.
    /// </summary>
    private bool InOwnDetectionWindow(GroupState s) => Now.UtcTicks < Interlocked.Read(ref _decideAfter) + s.Policy.LeaseTtl.Ticks;

    /// <summary>
    /// In the new owner's own detection window, a primary whose lease lapsed during the handoff is not failed over. If its agent
    /// has reported to this owner since the takeover, as the primary of the recorded epoch whose database has run as that
    /// primary without a restart, the lease is restored: the same member in the same epoch under a new lease, by compare-and-set
    /// on the record this owner read (nobody else can have been primary in that epoch; the replicas still follow it). Until
    /// it reports, the owner waits. Returns true when the lease had lapsed (restored, or waiting for the primary's agent), false
    /// when it is alive or the rule does not apply (then the usual rules decide, after the grace).
    /// </summary>
    /// <remarks>
    /// The same restore applies outside the window when the store itself failed this server's last renewal of that lease
    /// (<see cref="StoreFailedRenewalOf"/>): the primary reported, the store did not answer in time, the lease lapsed. Under a
    /// busy etcd (its leader answers a renewal only once it has applied every committed entry) that was most of the unasked
    /// failovers of bench/control-plane at 20,000 instances. A primary that does not report is failed over as usual.
    /// </remarks>
    private async Task<bool> RestoreLapsedLeaseAsync(GroupState s, bool leaseAlive, CancellationToken ct)
    {
        if (s.Pending is not null || s.Leader is not { } leader)
        {
            return false;
        }

        // A primary writing on failsafe promises (docs/ha.md, "The data path outlives the control plane") is still the only
        // primary of its epoch: its lapsed lease is restored whenever it reports so, not only in a new owner's window.
        var window = InOwnDetectionWindow(s);
        var failsafe = s.Members.TryGetValue(leader.Member, out var writing) && writing.Fresh(Now, s.Policy) &&
                       writing.Report is { Failsafe: true, Fenced: false, DbUp: true } f && f.Epoch == leader.Epoch;
        if (!window && !failsafe && !StoreFailedRenewalOf(leader))
        {
            return false;
        }

        if (leaseAlive)
        {
            return false;
        }

        if (!s.Members.TryGetValue(leader.Member, out var primary) || !primary.Fresh(Now, s.Policy))
        {
            // Not heard from yet: in the window, wait for it until the window ends; otherwise the usual rules apply.
            return window;
        }

        if (primary.Report is not { DbUp: true, Role: MemberRole.Primary } report || report.Epoch != leader.Epoch || report.PrimaryOfEpoch != leader.Epoch)
        {
            return false; // heard from, and not an intact primary of its epoch (its database died or restarted): the usual rules
        }

        return await RestoreLeaseAsync(s, leader, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Gives <paramref name="leader"/>, whose lease lapsed, a new lease in the same epoch: one compare-and-set on the record this
    /// owner read (nobody else can have been primary in that epoch meanwhile). The agent lifts its fence at its next renewal.
    /// Returns true (the lapse is dealt with, restored here or by whoever changed the record first).
    /// </summary>
    private async Task<bool> RestoreLeaseAsync(GroupState s, LeaderRecord leader, CancellationToken ct)
    {
        var lease = await Store.GrantLeaseAsync(s.Policy.LeaseTtl, ct).ConfigureAwait(false);
        var restored = leader with { LeaseId = lease.Id };
        var records = new StoreLeaderRecords(Store, Name, _ => [TxnOp.Put(GroupKeys.LeaseMarker(Name), Encoding.UTF8.GetBytes(leader.Member), lease.Id)], _ctx.Fence());
        if (!await records.TryReplaceAsync(s.LeaderRevision, restored, ct).ConfigureAwait(false))
        {
            GroupLog.LostRace(_ctx.Logger, Name);
            await RevokeQuietlyAsync(lease.Id, ct).ConfigureAwait(false);
            var current = await records.ReadAsync(ct).ConfigureAwait(false);
            // Lost to another server's restore of the same member in the same epoch (every server returned at once, and two
            // decided the group for a moment): that primary confirmed its promotion in this epoch as before, so proxies keep
            // routing to it. Unconfirming it made the TCP proxy close every client connection to a primary that never stopped.
            var same = current.Record is { } r && r.Member == leader.Member && r.Epoch == leader.Epoch;
            Publish(s with { Leader = current.Record, LeaderRevision = current.Revision, Confirmed = s.Confirmed && same });
            return true;
        }

        SawRevision(records.LastRevision);
        Publish(s with { Leader = restored, LeaderRevision = records.LastRevision });
        Interlocked.Exchange(ref _restoredAt, Now.UtcTicks);
        Interlocked.Exchange(ref _restoredLease, lease.Id);
        GroupLog.LeaseRestored(_ctx.Logger, Name, leader.Member, leader.Epoch);
        return true;
    }

    /// <summary>
    /// True for one lease TTL after this server restored <paramref name="leader"/>'s lease. A primary whose lease lapsed fenced
    /// itself at its deadline and lifts its fence at its first renewal under the restored lease: until then its fenced
    /// reports are the lapse's doing, not a one-way cut (issue 9.5: under stress-ng the restore and the primary-fenced rule
    /// raced, and the primary just kept was failed over, epoch 1 -> 2).
    /// </summary>
    private bool RestoredRecently(LeaderRecord leader, GroupPolicy policy) =>
        Interlocked.Read(ref _restoredLease) == leader.LeaseId && Now.UtcTicks - Interlocked.Read(ref _restoredAt) < policy.LeaseTtl.Ticks;

    /// <summary>
    /// True when the store failed this server's last renewal of <paramref name="leader"/>'s lease (no success since), whether
    /// for a report this actor took or for one answered from the store before this server decided the group (<see cref="GroupLease"/>).
    /// </summary>
    private bool StoreFailedRenewalOf(LeaderRecord leader) => _ctx.Lease.StoreFailed(Name, leader.LeaseId);

    /// <summary>
    /// Records that the primary of <paramref name="epoch"/> confirmed, once per epoch, only while the leader record is still
    /// the one at <paramref name="leaderRevision"/>. Best effort: without it a later owner waits for the next report to confirm.
    /// </summary>
    private async Task PersistConfirmationAsync(long leaderRevision, long epoch, CancellationToken ct)
    {
        try
        {
            await Store.TxnAsync(new TxnRequest(
                [Compare.ModRevisionIs(GroupKeys.Leader(Name), leaderRevision)],
                [TxnOp.Put(GroupKeys.Confirmed(Name), Encoding.UTF8.GetBytes(epoch.ToString(CultureInfo.InvariantCulture)))],
                []), ct).ConfigureAwait(false);
        }
        catch (StoreUnavailableException)
        {
        }
    }

    /// <summary>
    /// Grows the stored failsafe record by the members the primary of <paramref name="epoch"/> says it asks, guarded by the leader
    /// record's revision (a record for an epoch that has ended is never written). Only a stored record is echoed to the primary,
    /// and only then does it use the failsafe; best effort otherwise.
    /// </summary>
    private async Task RecordFailsafeAsync(string member, long epoch, IReadOnlyList<string> asks, CancellationToken ct)
    {
        var s = State;
        if (s.Leader is not { } leader || leader.Member != member || leader.Epoch != epoch || FailsafeRecord.Grow(s.Failsafe, epoch, asks) is not { } grown)
        {
            return;
        }

        try
        {
            var result = await Store.TxnAsync(new TxnRequest(
                [Compare.ModRevisionIs(GroupKeys.Leader(Name), s.LeaderRevision)],
                [TxnOp.Put(GroupKeys.Failsafe(Name), JsonSerializer.SerializeToUtf8Bytes(grown, HaloJson.Options))],
                []), ct).ConfigureAwait(false);
            if (result.Succeeded)
            {
                await TurnAsync(now =>
                {
                    if (now.Leader?.Epoch == epoch && (now.Failsafe is not { } had || had.Epoch != epoch || grown.Members.Count >= had.Members.Count))
                    {
                        Publish(now with { Failsafe = grown }, visible: false);
                    }

                    return Task.FromResult(0);
                }, ct).ConfigureAwait(false);
            }
        }
        catch (StoreUnavailableException)
        {
        }
    }

    /// <summary>The epoch a confirmed-key holds, or -1.</summary>
    public static long ParseConfirmed(KeyValue kv) =>
        long.TryParse(Encoding.UTF8.GetString(kv.Value.Span), NumberStyles.None, CultureInfo.InvariantCulture, out var epoch) ? epoch : -1;
}
