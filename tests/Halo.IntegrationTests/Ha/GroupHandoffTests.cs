// Every wait in these tests has its own bound.
#pragma warning disable xUnit1051

using System.Collections.Immutable;
using System.Diagnostics;
using Halo.Core.Failover;
using Halo.Server.Groups;
using Halo.Server.Tests.Groups;
using Halo.Client;
using Halo.Store;

namespace Halo.IntegrationTests.Ha;

/// <summary>
/// A server that takes a group over (its decider died). On a fake clock over a real embedded store: a primary whose lease lapsed
/// while no server could decide is not failed over by the new owner before the owner's own detection window has passed. With
/// real servers over etcd: the new decider shows what the dead one showed (the last failover), and a long poll resumed from
/// the dead decider's version is answered at once.
/// </summary>
[Collection("redis-failover")]
public sealed class GroupHandoffTests(ITestOutputHelper output)
{
    private const string Group = GroupTestBed.Group;
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(2);

    /// <summary>What the dead decider left in the store (r1 primary of epoch 1), its lease lapsed, and a new owner that took it over.</summary>
    private static async Task<(GroupTestBed Bed, GroupActor Actor)> HandedOverAsync()
    {
        var bed = await GroupTestBed.StartAsync(HaloProcess.TempDirectory("handoff"), new GroupsOptions { HandoffGrace = Grace });

        // The lease lapses while nobody decides the group (the primary's agent fenced itself at its renew deadline).
        await bed.LeaseLapsedAsync();
        var actor = bed.NewActor(bed.Stored with { Leader = null, LeaderRevision = 0, Members = ImmutableSortedDictionary.Create<string, MemberRuntime>(StringComparer.Ordinal) }, owned: false);
        var (fresh, revision) = await bed.ReadAsync();
        Assert.True(await actor.AcquireAsync(fresh with { Confirmed = true }, revision, bed.Time.GetUtcNow() + Grace, default));
        return (bed, actor);
    }

    private static Task<Assignment> ReportAsync(GroupActor actor, string member, MemberRole role, bool fenced = false, long primaryOfEpoch = 0, bool dbUp = true) =>
        GroupTestBed.ReportAsync(actor, member, role, fenced: fenced, primaryOfEpoch: primaryOfEpoch, dbUp: dbUp);

    private static async Task ReplicasReportAsync(GroupActor actor)
    {
        await ReportAsync(actor, "r2", MemberRole.Replica);
        await ReportAsync(actor, "r3", MemberRole.Replica);
    }

    private static async Task<LeaderRecord?> StoredLeaderAsync(GroupTestBed bed) =>
        (await new StoreLeaderRecords(bed.Store, Group).ReadAsync()).Record;

    [Fact]
    public async Task Decide_LeaseLapsedDuringHandoffPrimaryIntact_RestoresTheLeaseInTheSameEpoch()
    {
        var (bed, actor) = await HandedOverAsync();
        await using var disposing = bed;

        // The primary's agent reaches the new owner fenced by its own watchdog: not renewed, since its lease is gone.
        var fencedAnswer = await ReportAsync(actor, "r1", MemberRole.Primary, fenced: true, primaryOfEpoch: 1);
        Assert.False(fencedAnswer.LeaseRenewed);
        await ReplicasReportAsync(actor);

        await actor.DecideAsync(default);

        var stored = await StoredLeaderAsync(bed);
        Assert.Equal(("r1", 1L), (stored!.Member, stored.Epoch));
        Assert.NotEqual(bed.Leader.LeaseId, stored.LeaseId);
        Assert.Equal(stored.LeaseId, (await bed.Store.GetAsync(GroupKeys.LeaseMarker(Group))).Item?.LeaseId);
        var renewed = await ReportAsync(actor, "r1", MemberRole.Primary, fenced: true, primaryOfEpoch: 1);
        Assert.True(renewed.LeaseRenewed);
        Assert.Equal((MemberRole.Primary, 1L, false), (renewed.Role, renewed.Epoch, renewed.Fence));

        // Past the grace and the window, with the primary renewing as usual: still no failover.
        for (var i = 0; i < 30; i++)
        {
            bed.Time.Advance(TimeSpan.FromMilliseconds(200));
            Assert.True((await ReportAsync(actor, "r1", MemberRole.Primary, primaryOfEpoch: 1)).LeaseRenewed);
            await ReplicasReportAsync(actor);
            await actor.DecideAsync(default);
        }

        Assert.Equal((1L, "r1"), (actor.State.Leader!.Epoch, actor.State.Leader.Member));
        Assert.Null(actor.State.Round);
    }

    [Fact]
    public async Task Decide_LeaseLapsedPrimarySilent_WaitsTheOwnersWholeWindowThenFailsOver()
    {
        var (bed, actor) = await HandedOverAsync();
        await using var disposing = bed;

        // Only the replicas reach the new owner. After the grace, still inside grace + one lease TTL: nothing is decided.
        for (var elapsed = TimeSpan.Zero; elapsed < Grace + bed.Policy.LeaseTtl - TimeSpan.FromMilliseconds(200); elapsed += TimeSpan.FromMilliseconds(200))
        {
            await ReplicasReportAsync(actor);
            await actor.DecideAsync(default);
            Assert.Equal(1, actor.State.Leader!.Epoch);
            Assert.Null(actor.State.Round);
            bed.Time.Advance(TimeSpan.FromMilliseconds(200));
        }

        // Once the window has passed, the lapsed lease is a failure this owner has watched for a whole window: fail over.
        bed.Time.Advance(TimeSpan.FromMilliseconds(400));
        await ReplicasReportAsync(actor);
        await actor.DecideAsync(default); // opens the position round
        Assert.NotNull(actor.State.Round);
        for (var i = 0; i < 20 && actor.State.Leader!.Epoch == 1; i++)
        {
            await ReplicasReportAsync(actor); // answering the round
            await actor.DecideAsync(default);
            bed.Time.Advance(TimeSpan.FromMilliseconds(200));
        }

        Assert.Equal(2, (await StoredLeaderAsync(bed))!.Epoch);
    }

    [Fact]
    public async Task Decide_LeaseLapsedPrimaryRestartedInItsEpoch_NotRestored()
    {
        var (bed, actor) = await HandedOverAsync();
        await using var disposing = bed;

        // The primary's database restarted (it no longer vouches for epoch 1): restoring its lease could resurrect lost writes.
        await ReportAsync(actor, "r1", MemberRole.Primary, fenced: true, primaryOfEpoch: 0);
        await ReplicasReportAsync(actor);
        await actor.DecideAsync(default);

        Assert.Equal(bed.Leader, await StoredLeaderAsync(bed));
        Assert.False((await ReportAsync(actor, "r1", MemberRole.Primary, fenced: true, primaryOfEpoch: 0)).LeaseRenewed);
    }
    [Fact]
    public async Task KillTheDeciderAfterASwitchover_TheNewDeciderShowsTheSameLastFailover_AndAnswersTheOldIndexAtOnce()
    {
        var bound = TimeSpan.FromSeconds(30);
        await using var etcd = await EtcdCluster.StartAsync();
        await using var servers = await ServerCluster.StartAsync(etcd);
        await using var group = await DeciderKillTests.RedisGroup.StartAsync(servers, output);
        var before = await group.StatusAsync();
        var to = before.Members.First(m => m.Name != before.Primary && m.Healthy).Name;
        var switched = await group.Client.SwitchoverAsync(Group, to);
        Assert.Equal((to, before.Epoch + 1), (switched.Primary, switched.Epoch));
        await Eventually.UntilAsync(async () => await group.StatusAsync() is { LastFailover.PromotedAt: not null }, bound, "the new primary to confirm");

        // What the decider shows has reached the store (the decision pass writes it once it changes): read etcd itself.
        await using (var store = new EtcdStore(new EtcdStoreOptions { Endpoints = etcd.Endpoints }, TimeProvider.System))
        {
            await Eventually.UntilAsync(async () => (await store.GetAsync(GroupKeys.Decided(Group))).Item is { } kv &&
                DecidedRecord.Parse(kv)?.LastFailover is { PromotedAt: not null }, bound, "the decided record in etcd");
        }

        var shown = await group.StatusAsync();
        Assert.Equal(("switchover", before.Primary, to), (shown.LastFailover!.Cause, shown.LastFailover.From, shown.LastFailover.To));
        servers.Kill(group.Decider);
        output.WriteLine($"killed the decider, server {group.Decider}; last failover {shown.LastFailover}; version {shown.Version}");
        var survivor = (group.Decider + 1) % servers.Count;
        await Eventually.UntilAsync(async () => await DeciderKillTests.RedisGroup.TryDeciderAsync(servers, survivor) is { } d && d != group.Decider, bound, "another server to decide the group");

        // A watcher resuming from the dead decider's version: the new decider's numbering starts above it, so it is answered at
        // once (a wall-clock numbering behind the dead server's made it wait for the whole poll, missing the handoff).
        var asked = Stopwatch.StartNew();
        var resumed = await Retry(() => group.Client.GetAsync(Group, shown.Version, TimeSpan.FromSeconds(20)), bound);
        output.WriteLine($"resumed from {shown.Version}: version {resumed.Version} after {asked.Elapsed.TotalSeconds:0.00} s");
        Assert.True(resumed.Version > shown.Version, $"version {resumed.Version} after {shown.Version}");
        Assert.True(asked.Elapsed < TimeSpan.FromSeconds(10), $"the resumed poll took {asked.Elapsed.TotalSeconds:0.0} s");
        Assert.Equal(shown.LastFailover, resumed.LastFailover);
        Assert.Equal((shown.Epoch, shown.Primary), (resumed.Epoch, resumed.Primary));
    }

    /// <summary>Calls until one answers (a call reaching a server while the decider changes answers 503), bounded.</summary>
    private static async Task<T> Retry<T>(Func<Task<T>> call, TimeSpan bound)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return await call();
            }
            catch (Exception ex) when (ex is HaloApiException or HttpRequestException && clock.Elapsed < bound)
            {
                await Task.Delay(100);
            }
        }
    }
}
