using System.Text;
using Halo.Core.Failover;
using Halo.Server.Groups;
using Halo.Store;

namespace Halo.Server.Tests.Groups;

/// <summary>
/// A decider whose store fails to renew the primary's lease (an etcd too busy to answer in time) does not fail the primary
/// over: not when the primary fences itself at its renew deadline, not when the lease lapses. Once the store answers, a
/// primary that still vouches for its epoch gets its lease back in the same epoch. Fake clock, embedded store.
/// </summary>
public sealed class StoreFailedRenewalTests : IAsyncLifetime
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private GroupTestBed _bed = null!;
    private ScriptedStore _store = null!;
    private GroupActor _actor = null!;

    public async ValueTask InitializeAsync()
    {
        _bed = await GroupTestBed.StartAsync(Path.GetTempPath(), wrap: inner => _store = new ScriptedStore(inner));
        _actor = _bed.NewActor(_bed.Stored); // decided here for a long time: no handoff window
    }

    public ValueTask DisposeAsync() => _bed.DisposeAsync();

    private Task<Assignment> ReportAsync(string member, MemberRole role, bool fenced = false, bool failsafe = false, long offset = 100, bool restarted = false) =>
        GroupTestBed.ReportAsync(_actor, member, role, fenced: fenced, failsafe: failsafe, offset: offset, primaryOfEpoch: role == MemberRole.Primary && !restarted ? 1 : 0);

    private async Task ReplicasReportAsync()
    {
        await ReportAsync("r2", MemberRole.Replica);
        await ReportAsync("r3", MemberRole.Replica);
    }

    [Fact]
    public async Task Decide_StoreFailsThePrimarysRenewals_NoFailoverAndTheLeaseIsRestoredInTheSameEpoch()
    {
        Assert.True((await ReportAsync("r1", MemberRole.Primary)).LeaseRenewed);

        // The store stops answering renewals; the primary's agent keeps reporting and fences at its deadline.
        _store.Fault = RenewalFault.Fail;
        for (var i = 0; i < 15; i++)
        {
            _bed.Time.Advance(TimeSpan.FromMilliseconds(200));
            await Assert.ThrowsAsync<StoreUnavailableException>(() => ReportAsync("r1", MemberRole.Primary, fenced: i >= 7));
            await ReplicasReportAsync();
            await _actor.DecideAsync(default);
            Assert.Equal((1L, "r1"), (_actor.State.Leader!.Epoch, _actor.State.Leader.Member));
            Assert.Null(_actor.State.Round);
        }

        // Lease expiry runs on the store's timer and writer thread: step the clock and give it real moments, bounded.
        await _bed.LeaseLapsedAsync();
        await Assert.ThrowsAsync<StoreUnavailableException>(() => ReportAsync("r1", MemberRole.Primary, fenced: true));
        await ReplicasReportAsync();
        await _actor.DecideAsync(default);
        // Lapsed, and still no failover: the store failed the renewals, not the primary. The primary vouches for epoch 1, so it
        // gets a new lease in epoch 1 (granting it is a raft write this store still takes; a store failing those too retries).
        Assert.Null(_actor.State.Round);
        Assert.Equal((1L, "r1"), (_actor.State.Leader!.Epoch, _actor.State.Leader.Member));

        _store.Fault = RenewalFault.None;
        await ReportAsync("r1", MemberRole.Primary, fenced: true);
        await ReplicasReportAsync();
        await _actor.DecideAsync(default);
        var stored = (await new StoreLeaderRecords(_store, GroupTestBed.Group).ReadAsync()).Record!;
        Assert.Equal(("r1", 1L), (stored.Member, stored.Epoch));
        Assert.NotEqual(_bed.Leader.LeaseId, stored.LeaseId);
        var renewed = await ReportAsync("r1", MemberRole.Primary, fenced: true);
        Assert.True(renewed.LeaseRenewed);
        Assert.Equal((MemberRole.Primary, 1L, false), (renewed.Role, renewed.Epoch, renewed.Fence));
    }

    [Fact]
    public async Task Decide_LeaseRestoredThenThePrimaryReportsItselfFenced_NoFailoverForOneTtlThenTheUsualRule()
    {
        Assert.True((await ReportAsync("r1", MemberRole.Primary)).LeaseRenewed);

        // No server heard the primary (it wrote on failsafe promises meanwhile): its lease lapses.
        await _bed.LeaseLapsedAsync();
        await ReportAsync("r1", MemberRole.Primary, failsafe: true);
        await ReplicasReportAsync();
        await _actor.DecideAsync(default);
        var restored = _actor.State.Leader!;
        Assert.Equal(("r1", 1L), (restored.Member, restored.Epoch));
        Assert.NotEqual(_bed.Leader.LeaseId, restored.LeaseId);

        // Its promises had run out just before: it reports itself fenced until its first renewal under the new lease lifts the fence.
        for (var i = 0; i < 8; i++)
        {
            _bed.Time.Advance(TimeSpan.FromMilliseconds(200));
            await ReportAsync("r1", MemberRole.Primary, fenced: true);
            await ReplicasReportAsync();
            await _actor.DecideAsync(default);
            Assert.Null(_actor.State.Round);
            Assert.Equal(restored, _actor.State.Leader);
        }

        // Still fenced a lease TTL after the restore: a one-way cut as far as the decider can tell, the usual rule replaces it.
        for (var i = 0; i < 2; i++)
        {
            _bed.Time.Advance(_bed.Policy.LeaseTtl / 2 + TimeSpan.FromMilliseconds(100)); // each report renews: the lease stays alive
            await ReportAsync("r1", MemberRole.Primary, fenced: true);
        }

        await ReplicasReportAsync();
        await _actor.DecideAsync(default);
        Assert.Equal("primary-fenced", _actor.State.Round?.Cause);
    }

    [Fact]
    public async Task Decide_AnotherServerRestoredTheLapsedLeaseFirst_TheGroupStaysConfirmed()
    {
        // Every server came back at once: for a moment two of them decide the group (their views of the servers still settling).
        // The other one restored the primary's lapsed lease first; this one, deciding on the record it read before that, loses
        // the compare-and-set. Same member, same epoch: its primary is as confirmed as before. Marking the group unconfirmed made
        // the TCP proxy close every connection to the primary (FailsafeTests under stress-ng: 1 write failed, IOException).
        Assert.True((await ReportAsync("r1", MemberRole.Primary)).LeaseRenewed);
        await _store.RevokeLeaseAsync(_bed.Leader.LeaseId);
        await ReportAsync("r1", MemberRole.Primary, failsafe: true);
        await ReplicasReportAsync();

        var lease = await _store.GrantLeaseAsync(_bed.Policy.LeaseTtl);
        var byOther = _bed.Leader with { LeaseId = lease.Id };
        var other = new StoreLeaderRecords(_store, GroupTestBed.Group, _ => [TxnOp.Put(GroupKeys.LeaseMarker(GroupTestBed.Group), Encoding.UTF8.GetBytes("r1"), lease.Id)]);
        Assert.True(await other.TryReplaceAsync(_actor.State.LeaderRevision, byOther));

        await _actor.DecideAsync(default);
        Assert.Equal(byOther, _actor.State.Leader);
        Assert.True(_actor.State.Confirmed);
        Assert.True(_actor.State.Status(_bed.Time.GetUtcNow()).PrimaryConfirmed);
        Assert.Null(_actor.State.Round);

        // A record naming another epoch is a different primary: not confirmed until it says so.
        var next = await _store.GrantLeaseAsync(_bed.Policy.LeaseTtl);
        var taken = new LeaderRecord("r2", 2, next.Id, _bed.Time.GetUtcNow(), "failover");
        var taker = new StoreLeaderRecords(_store, GroupTestBed.Group, _ => [TxnOp.Put(GroupKeys.LeaseMarker(GroupTestBed.Group), Encoding.UTF8.GetBytes("r2"), next.Id)]);
        Assert.True(await taker.TryReplaceAsync(_actor.State.LeaderRevision, taken));
        await _store.RevokeLeaseAsync(lease.Id);
        await ReportAsync("r1", MemberRole.Primary, failsafe: true);
        await _actor.DecideAsync(default);
        Assert.Equal(taken, _actor.State.Leader);
        Assert.False(_actor.State.Confirmed);
    }

    [Fact]
    public async Task Report_WhileTheDecidersStoreReadIsSlow_RenewsWithoutWaitingForIt()
    {
        // The decider's pass reads whether the primary's lease lives; a loaded etcd answers that read late. The primary's
        // renewal must not queue behind it: it counts against the primary's renew deadline, the read against nothing.
        var late = new TaskCompletionSource();
        _store.HoldNextRead = late.Task;
        var deciding = _actor.DecideAsync(default);
        var renewed = await ReportAsync("r1", MemberRole.Primary).WaitAsync(Bound, TimeProvider.System);
        Assert.True(renewed.LeaseRenewed);
        Assert.False(deciding.IsCompleted);

        late.SetResult();
        await deciding.WaitAsync(Bound, TimeProvider.System);
        Assert.Equal((1L, "r1"), (_actor.State.Leader!.Epoch, _actor.State.Leader.Member));
        Assert.Null(_actor.State.Round);
    }

    [Fact]
    public async Task Decide_TheLeaseWasRestoredWhileItsReadWasLate_DecidesNothingOnTheStaleRead()
    {
        // The store failed a renewal, the lease lapsed; a pass reads "no lease" but its answer comes late. Meanwhile another pass
        // restores the lease (same member, same epoch, new lease). The late answer was about the old lease: the pass it belongs to
        // must not take it as the new lease's death and open a round against a primary that holds a live lease.
        Assert.True((await ReportAsync("r1", MemberRole.Primary)).LeaseRenewed);
        _store.Fault = RenewalFault.Fail;
        await Assert.ThrowsAsync<StoreUnavailableException>(() => ReportAsync("r1", MemberRole.Primary));
        _store.Fault = RenewalFault.None;
        await ReplicasReportAsync();
        await _store.RevokeLeaseAsync(_bed.Leader.LeaseId);

        var late = new TaskCompletionSource();
        _store.HoldNextRead = late.Task;
        var stale = _actor.DecideAsync(default);
        await _actor.DecideAsync(default).WaitAsync(Bound, TimeProvider.System);
        var restored = _actor.State.Leader!;
        Assert.Equal(("r1", 1L), (restored.Member, restored.Epoch));
        Assert.NotEqual(_bed.Leader.LeaseId, restored.LeaseId);

        late.SetResult();
        await stale.WaitAsync(Bound, TimeProvider.System);
        Assert.Null(_actor.State.Round);
        Assert.Equal(restored, _actor.State.Leader);
    }

    [Fact]
    public async Task Decide_TheStoreFailedARenewalAnsweredFromTheStoreHere_TheLapseIsTheStoresDoing()
    {
        // This server answered the primary's report from the store (its decider away, etcd electing a leader) and the store
        // failed the renewal. Both paths renew through the server's one GroupLease, so the actor deciding the group here knows
        // the lapse that follows is the store's doing: the same member in the same epoch under a new lease, no position round.
        var report = new MemberReport
        {
            Address = GroupTestBed.Address("r1"), Role = MemberRole.Primary, Epoch = 1, DbUp = true, Healthy = true, Offset = 100, PrimaryOfEpoch = 1,
        };
        _store.Fault = RenewalFault.Fail;
        await Assert.ThrowsAsync<StoreUnavailableException>(() => GroupRouter.AnswerFromStoreAsync(
            _store, _bed.Context.Lease, GroupTestBed.Group, "r1", report, new VersionedLeader(_bed.Leader, _bed.Stored.LeaderRevision), default));
        Assert.True(_bed.Context.Lease.StoreFailed(GroupTestBed.Group, _bed.Leader.LeaseId));
        _store.Fault = RenewalFault.None;

        await _bed.LeaseLapsedAsync();
        Assert.False((await ReportAsync("r1", MemberRole.Primary, fenced: true)).LeaseRenewed); // the lease is gone: nothing to renew
        await ReplicasReportAsync();
        await _actor.DecideAsync(default);

        Assert.Null(_actor.State.Round);
        var restored = _actor.State.Leader!;
        Assert.Equal(("r1", 1L), (restored.Member, restored.Epoch));
        Assert.NotEqual(_bed.Leader.LeaseId, restored.LeaseId);
    }

    [Fact]
    public async Task Decide_LeaseLapsedWithoutAFailedRenewal_OpensAPositionRound()
    {
        // The control for the test above: the same lapse without a renewal the store failed is evidence, and a round opens.
        await _bed.LeaseLapsedAsync();
        await ReportAsync("r1", MemberRole.Primary, fenced: true);
        await ReplicasReportAsync();
        await _actor.DecideAsync(default);

        Assert.Equal("lease-expired", _actor.State.Round?.Cause);
    }

    [Fact]
    public async Task Decide_StoreFailedOnceThenThePrimaryWentSilent_FailsOverAsUsual()
    {
        Assert.True((await ReportAsync("r1", MemberRole.Primary)).LeaseRenewed);
        _store.Fault = RenewalFault.Fail;
        await Assert.ThrowsAsync<StoreUnavailableException>(() => ReportAsync("r1", MemberRole.Primary));
        _store.Fault = RenewalFault.None;

        // r1 says nothing more (its node died): the lapse is then evidence, whatever the store did before.
        for (var i = 0; i < 60 && _actor.State.Leader!.Epoch == 1; i++)
        {
            _bed.Time.Advance(TimeSpan.FromMilliseconds(200));
            await ReplicasReportAsync();
            await _actor.DecideAsync(default);
            await Task.Delay(TimeSpan.FromMilliseconds(5), TimeProvider.System);
        }

        Assert.Equal(2L, _actor.State.Leader!.Epoch);
        Assert.NotEqual("r1", _actor.State.Leader.Member);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Decide_PrimarySilentTillItsLeaseLapsedThenReportsAgain_TheRoundKeepsItInItsEpochUnlessItRestarted(bool restarted)
    {
        Assert.True((await ReportAsync("r1", MemberRole.Primary)).LeaseRenewed);

        // Nothing from the primary's agent (starved) until its lease lapses; it fenced itself at its deadline meanwhile.
        await _bed.LeaseLapsedAsync();
        await ReplicasReportAsync();
        await _actor.DecideAsync(default);
        Assert.Equal("lease-expired", _actor.State.Round?.Cause);

        // The agent runs again: the round finds the primary ahead of both replicas.
        for (var i = 0; i < 50 && _actor.State.Round is not null; i++)
        {
            await ReportAsync("r1", MemberRole.Primary, fenced: true, offset: 120, restarted: restarted);
            await ReportAsync("r2", MemberRole.Replica, offset: 110);
            await ReportAsync("r3", MemberRole.Replica, offset: 110);
            await _actor.DecideAsync(default);
            _bed.Time.Advance(TimeSpan.FromMilliseconds(100));
        }

        var after = _actor.State.Leader!;
        Assert.Null(_actor.State.Round);
        Assert.NotEqual(_bed.Leader.LeaseId, after.LeaseId);
        if (restarted)
        {
            // Restarted since its promotion, it cannot vouch for its epoch: the usual failover, to a replica.
            Assert.Equal(2L, after.Epoch);
            Assert.NotEqual("r1", after.Member);
            return;
        }

        // Intact since its promotion: the same member in the same epoch under a new lease, and its next report renews it.
        Assert.Equal(("r1", 1L), (after.Member, after.Epoch));
        Assert.True((await ReportAsync("r1", MemberRole.Primary, fenced: true, offset: 120)).LeaseRenewed);
    }
}
