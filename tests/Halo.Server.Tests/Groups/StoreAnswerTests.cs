using System.Globalization;
using System.Text;
using System.Text.Json;
using Halo.Core.Failover;
using Halo.Core.Serialization;
using Halo.Server.Groups;
using Halo.Store;
using Microsoft.Extensions.Time.Testing;

namespace Halo.Server.Tests.Groups;

/// <summary>
/// A report answered from the store while the decider is away (<see cref="GroupRouter.AnswerFromStoreAsync(IStore, GroupLease, string, string, MemberReport, VersionedLeader?, CancellationToken)"/>):
/// a replica learns where the confirmed primary of the recorded epoch is, as the decider would tell it, and nothing renews a
/// lease except the recorded primary's own writable report. Embedded store, fake clock.
/// </summary>
public sealed class StoreAnswerTests : IAsyncLifetime
{
    private const string Group = "cache";
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero)) { AutoAdvanceAmount = TimeSpan.Zero };
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "halo-store-answer-" + Guid.NewGuid().ToString("N"));
    private readonly GroupPolicy _policy = new();
    private IStore _store = null!;
    private StoreLeaderRecords _records = null!;
    private LeaderRecord _leader = null!;

    public async ValueTask InitializeAsync()
    {
        _store = await EmbeddedStore.OpenAsync(_dir, new EmbeddedStoreOptions(), _time);
        await _store.PutAsync(GroupKeys.Policy(Group), JsonSerializer.SerializeToUtf8Bytes(_policy, HaloJson.Options));
        foreach (var m in new[] { "r1", "r2", "r3" })
        {
            await _store.PutAsync(GroupKeys.Member(Group, m), JsonSerializer.SerializeToUtf8Bytes(new GroupActor.MemberRecord(Address(m)), HaloJson.Options));
        }

        var lease = await _store.GrantLeaseAsync(_policy.LeaseTtl);
        _leader = new LeaderRecord("r1", 2, lease.Id, _time.GetUtcNow(), "failover");
        _records = new StoreLeaderRecords(_store, Group, _ => [TxnOp.Put(GroupKeys.LeaseMarker(Group), Encoding.UTF8.GetBytes("r1"), lease.Id)]);
        Assert.True(await _records.TryReplaceAsync(0, _leader));
    }

    public async ValueTask DisposeAsync()
    {
        await _store.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private static string Address(string member) => $"127.0.0.1:{6000 + member[^1]}";

    private Task ConfirmAsync(long epoch) =>
        _store.PutAsync(GroupKeys.Confirmed(Group), Encoding.UTF8.GetBytes(epoch.ToString(CultureInfo.InvariantCulture)));

    private Task<Assignment?> AnswerAsync(string member, MemberRole role, long epoch = 2, bool fenced = false, VersionedLeader? seen = null) =>
        GroupRouter.AnswerFromStoreAsync(_store, new GroupLease(_store), Group, member, new MemberReport
        {
            Address = Address(member), Role = role, Epoch = epoch, DbUp = true, Healthy = true, Offset = 100, Fenced = fenced,
            Following = role == MemberRole.Replica ? Address("r3") : null,
        }, seen, default);

    [Fact]
    public async Task StoreAnswer_ConfirmedPrimary_ReplicaIsToldWhereItIsAndRenewsNothing()
    {
        await ConfirmAsync(2);

        var replica = await AnswerAsync("r2", MemberRole.Replica, epoch: 1);

        Assert.NotNull(replica);
        Assert.Equal((MemberRole.Replica, 2L, "r1", Address("r1")), (replica.Role, replica.Epoch, replica.Primary, replica.PrimaryAddress));
        Assert.False(replica.LeaseRenewed);
        Assert.False(replica.Fence);
    }

    [Fact]
    public async Task StoreAnswer_PrimaryNotConfirmedInThisEpoch_ReplicaIsNotRePointed()
    {
        await ConfirmAsync(1); // the previous epoch's primary confirmed; this epoch's has not yet

        var replica = await AnswerAsync("r2", MemberRole.Replica, epoch: 1);

        Assert.NotNull(replica);
        Assert.Equal((MemberRole.Replica, "r1"), (replica.Role, replica.Primary));
        Assert.Null(replica.PrimaryAddress);
        Assert.False(replica.LeaseRenewed);
    }

    [Fact]
    public async Task StoreAnswer_NoConfirmedRecord_ReplicaIsNotRePointed()
    {
        var replica = await AnswerAsync("r3", MemberRole.Replica);

        Assert.NotNull(replica);
        Assert.Null(replica.PrimaryAddress);
    }

    [Fact]
    public async Task StoreAnswer_RecordedPrimary_RenewsOnlyAWritablePrimaryOfItsEpoch()
    {
        await ConfirmAsync(2);

        var writable = await AnswerAsync("r1", MemberRole.Primary);
        var fenced = await AnswerAsync("r1", MemberRole.Primary, fenced: true);
        var staleEpoch = await AnswerAsync("r1", MemberRole.Primary, epoch: 1);
        var asReplica = await AnswerAsync("r1", MemberRole.Replica);

        Assert.Equal((MemberRole.Primary, true, Address("r1")), (writable!.Role, writable.LeaseRenewed, writable.PrimaryAddress));
        foreach (var refused in new[] { fenced, staleEpoch, asReplica })
        {
            Assert.Equal((MemberRole.Primary, false, true), (refused!.Role, refused.LeaseRenewed, refused.Fence));
        }
    }

    [Fact]
    public async Task StoreAnswer_RecordReplacedMeanwhile_ReplicaFollowsTheNewRecordOnlyOnceConfirmed()
    {
        await ConfirmAsync(2);
        var lease = await _store.GrantLeaseAsync(_policy.LeaseTtl);
        var next = LeaderElection.Next(_leader, "r3", lease.Id, _time.GetUtcNow(), "switchover");
        Assert.True(await _records.TryReplaceAsync(_records.LastRevision, next));

        var before = await AnswerAsync("r2", MemberRole.Replica);
        await ConfirmAsync(3);
        var after = await AnswerAsync("r2", MemberRole.Replica);
        var oldPrimary = await AnswerAsync("r1", MemberRole.Primary);

        Assert.Equal(("r3", null), (before!.Primary, before.PrimaryAddress));
        Assert.Equal(("r3", Address("r3")), (after!.Primary, after.PrimaryAddress));
        Assert.Equal((MemberRole.Replica, false, Address("r3")), (oldPrimary!.Role, oldPrimary.LeaseRenewed, oldPrimary.PrimaryAddress));
    }

    [Fact]
    public async Task StoreAnswer_WithTheRecordSeenHere_RenewsItsLeaseAndStillChecksTheRecordAfter()
    {
        var seen = await _records.ReadAsync();

        var renewed = await AnswerAsync("r1", MemberRole.Primary, seen: seen);

        Assert.True(renewed!.LeaseRenewed);
        Assert.Equal(2L, renewed.Epoch);
    }

    [Fact]
    public async Task StoreAnswer_TheRecordSeenHereIsStale_RenewsTheCurrentLeaseOnly()
    {
        var stale = await _records.ReadAsync();
        var lease = await _store.GrantLeaseAsync(_policy.LeaseTtl);
        var restored = _leader with { LeaseId = lease.Id };
        Assert.True(await _records.TryReplaceAsync(stale.Revision, restored));
        await _store.RevokeLeaseAsync(_leader.LeaseId);

        var renewed = await AnswerAsync("r1", MemberRole.Primary, seen: stale);

        // The lease the stale record names is gone; the answer renewed the current one, read from the store.
        Assert.True(renewed!.LeaseRenewed);
        Assert.True(await _store.KeepAliveAsync(lease.Id));
        Assert.False(await _store.KeepAliveAsync(_leader.LeaseId));
    }

    [Fact]
    public async Task StoreAnswer_TheRecordSeenHereWasReplacedByAnotherPrimary_NothingRenewed()
    {
        var seen = await _records.ReadAsync();
        var lease = await _store.GrantLeaseAsync(_policy.LeaseTtl);
        Assert.True(await _records.TryReplaceAsync(seen.Revision, LeaderElection.Next(_leader, "r3", lease.Id, _time.GetUtcNow(), "failover")));

        // r1's old lease still lives (the takeover has not revoked it yet): the early renewal of it succeeds, and counts for nothing.
        var answer = await AnswerAsync("r1", MemberRole.Primary, seen: seen);

        Assert.Equal((MemberRole.Replica, "r3", false), (answer!.Role, answer.Primary, answer.LeaseRenewed));
    }
}
