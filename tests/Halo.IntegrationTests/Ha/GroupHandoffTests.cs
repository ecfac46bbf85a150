using System.Collections.Immutable;
using System.Diagnostics.Metrics;
using System.Text;
using Halo.Core.Failover;
using Halo.Server;
using Halo.Server.Events;
using Halo.Server.Groups;
using Halo.Store;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Halo.IntegrationTests.Ha;

/// <summary>
/// A server that takes a group over (its decider died) on a fake clock over a real embedded store: a primary whose lease lapsed
/// while no server could decide is not failed over by the new owner before the owner's own detection window has passed.
/// </summary>
public sealed class GroupHandoffTests : IAsyncLifetime
{
    private const string Group = "cache";
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(2);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero)) { AutoAdvanceAmount = TimeSpan.Zero };
    private readonly string _dir = HaloProcess.TempDirectory("handoff");
    private readonly GroupPolicy _policy = new() { AntiFlapWindow = TimeSpan.Zero };
    private ServiceProvider _services = null!;
    private IStore _store = null!;
    private GroupActor _actor = null!;
    private LeaderRecord _leader = null!;

    public async ValueTask InitializeAsync()
    {
        _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        _store = await EmbeddedStore.OpenAsync(_dir, new EmbeddedStoreOptions { LeaseCheckInterval = TimeSpan.FromMilliseconds(20) }, _time);
        var context = new GroupContext(
            _store, new EventLog(_store, new ServerOptions { DataDirectory = _dir }, _time), _time, new GroupsOptions { HandoffGrace = Grace },
            new GroupMetrics(_services.GetRequiredService<IMeterFactory>()), NullLogger.Instance, () => { }, () => []);

        // What the dead decider left in the store: r1 primary of epoch 1 under a lease, its marker attached to that lease.
        var policyRevision = await _store.PutAsync(GroupKeys.Policy(Group), System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(_policy, Halo.Core.Serialization.HaloJson.Options));
        var lease = await _store.GrantLeaseAsync(_policy.LeaseTtl);
        _leader = new LeaderRecord("r1", 1, lease.Id, _time.GetUtcNow(), "bootstrap");
        var records = new StoreLeaderRecords(_store, Group, _ => [TxnOp.Put(GroupKeys.LeaseMarker(Group), Encoding.UTF8.GetBytes("r1"), lease.Id)]);
        Assert.True(await records.TryReplaceAsync(0, _leader));
        var members = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal,
            new[] { "r1", "r2", "r3" }.Select(m => KeyValuePair.Create(m, MemberRuntime.New(m, Address(m)))));
        var fresh = new GroupState
        {
            Name = Group, Policy = _policy, PolicyRevision = policyRevision, Leader = _leader, LeaderRevision = records.LastRevision, Members = members,
            Confirmed = true, Version = 1,
        };

        // The lease lapses while nobody decides the group (the primary's agent fenced itself at its renew deadline).
        _time.Advance(_policy.LeaseTtl + TimeSpan.FromMilliseconds(100));
        await Eventually.UntilAsync(async () => (await _store.GetAsync(GroupKeys.LeaseMarker(Group))).Item is null, TimeSpan.FromSeconds(10), "the lease to lapse");

        _actor = new GroupActor(context, fresh with { Leader = null, LeaderRevision = 0, Members = ImmutableSortedDictionary.Create<string, MemberRuntime>(StringComparer.Ordinal) });
        await _actor.AcquireAsync(fresh, _time.GetUtcNow() + Grace, default);
    }

    public async ValueTask DisposeAsync()
    {
        await _store.DisposeAsync();
        await _services.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private static string Address(string member) => $"127.0.0.1:{6000 + member[^1]}";

    private Task<Assignment> ReportAsync(string member, MemberRole role, bool fenced = false, long primaryOfEpoch = 0, bool dbUp = true) =>
        _actor.ReportAsync(member, new MemberReport
        {
            Address = Address(member), Role = role, Epoch = 1, DbUp = dbUp, Healthy = dbUp, Offset = 100, Fenced = fenced, PrimaryOfEpoch = primaryOfEpoch,
            Following = role == MemberRole.Replica ? Address("r1") : null, Round = _actor.State.Round?.Id ?? 0,
        }, default);

    private async Task ReplicasReportAsync()
    {
        await ReportAsync("r2", MemberRole.Replica);
        await ReportAsync("r3", MemberRole.Replica);
    }

    private async Task<LeaderRecord?> StoredLeaderAsync() =>
        (await new StoreLeaderRecords(_store, Group).ReadAsync()).Record;

    [Fact]
    public async Task Decide_LeaseLapsedDuringHandoffPrimaryIntact_RestoresTheLeaseInTheSameEpoch()
    {
        // The primary's agent reaches the new owner fenced by its own watchdog: not renewed, since its lease is gone.
        var fencedAnswer = await ReportAsync("r1", MemberRole.Primary, fenced: true, primaryOfEpoch: 1);
        Assert.False(fencedAnswer.LeaseRenewed);
        await ReplicasReportAsync();

        await _actor.DecideAsync(default);

        var stored = await StoredLeaderAsync();
        Assert.Equal(("r1", 1L), (stored!.Member, stored.Epoch));
        Assert.NotEqual(_leader.LeaseId, stored.LeaseId);
        Assert.Equal(stored.LeaseId, (await _store.GetAsync(GroupKeys.LeaseMarker(Group))).Item?.LeaseId);
        var renewed = await ReportAsync("r1", MemberRole.Primary, fenced: true, primaryOfEpoch: 1);
        Assert.True(renewed.LeaseRenewed);
        Assert.Equal((MemberRole.Primary, 1L, false), (renewed.Role, renewed.Epoch, renewed.Fence));

        // Past the grace and the window, with the primary renewing as usual: still no failover.
        for (var i = 0; i < 30; i++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(200));
            Assert.True((await ReportAsync("r1", MemberRole.Primary, primaryOfEpoch: 1)).LeaseRenewed);
            await ReplicasReportAsync();
            await _actor.DecideAsync(default);
        }

        Assert.Equal((1L, "r1"), (_actor.State.Leader!.Epoch, _actor.State.Leader.Member));
        Assert.Null(_actor.State.Round);
    }

    [Fact]
    public async Task Decide_LeaseLapsedPrimarySilent_WaitsTheOwnersWholeWindowThenFailsOver()
    {
        // Only the replicas reach the new owner. After the grace, still inside grace + one lease TTL: nothing is decided.
        for (var elapsed = TimeSpan.Zero; elapsed < Grace + _policy.LeaseTtl - TimeSpan.FromMilliseconds(200); elapsed += TimeSpan.FromMilliseconds(200))
        {
            await ReplicasReportAsync();
            await _actor.DecideAsync(default);
            Assert.Equal(1, _actor.State.Leader!.Epoch);
            Assert.Null(_actor.State.Round);
            _time.Advance(TimeSpan.FromMilliseconds(200));
        }

        // Once the window has passed, the lapsed lease is a failure this owner has watched for a whole window: fail over.
        _time.Advance(TimeSpan.FromMilliseconds(400));
        await ReplicasReportAsync();
        await _actor.DecideAsync(default); // opens the position round
        Assert.NotNull(_actor.State.Round);
        for (var i = 0; i < 20 && _actor.State.Leader!.Epoch == 1; i++)
        {
            await ReplicasReportAsync(); // answering the round
            await _actor.DecideAsync(default);
            _time.Advance(TimeSpan.FromMilliseconds(200));
        }

        Assert.Equal(2, (await StoredLeaderAsync())!.Epoch);
    }

    [Fact]
    public async Task Decide_LeaseLapsedPrimaryRestartedInItsEpoch_NotRestored()
    {
        // The primary's database restarted (it no longer vouches for epoch 1): restoring its lease could resurrect lost writes.
        await ReportAsync("r1", MemberRole.Primary, fenced: true, primaryOfEpoch: 0);
        await ReplicasReportAsync();
        await _actor.DecideAsync(default);

        Assert.Equal(_leader, await StoredLeaderAsync());
        Assert.False((await ReportAsync("r1", MemberRole.Primary, fenced: true, primaryOfEpoch: 0)).LeaseRenewed);
    }
}
