using Halo.Core.Failover;
using Halo.Server.Groups;
using Halo.Store;

namespace Halo.Server.Tests.Groups;

/// <summary>
/// What a decider shows (the last failover, a switchover, a drill) survives the decider: the next one, on another server, reads it
/// from the store. And group versions follow the store's revision, so a long poll resumed on the next decider from the previous
/// one's version is answered at once. Fake clock, embedded store, two actors as the deciders of two servers.
/// </summary>
public sealed class DecidedRecordTests : IAsyncLifetime
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private GroupTestBed _bed = null!;
    private GroupActor _first = null!;

    public async ValueTask InitializeAsync()
    {
        _bed = await GroupTestBed.StartAsync(Path.GetTempPath());
        _first = _bed.NewActor(_bed.Stored);
    }

    public ValueTask DisposeAsync() => _bed.DisposeAsync();

    /// <summary>The decider of another server takes the group over from the store, as after the first one's death.</summary>
    private async Task<GroupActor> NextDeciderAsync()
    {
        var next = _bed.NewActor(_bed.Stored with { Leader = null, LastFailover = null }, owned: false, _bed.NewServer());
        var (fresh, revision) = await _bed.ReadAsync();
        Assert.True(await next.AcquireAsync(fresh, revision, _bed.Time.GetUtcNow() + _bed.Options.HandoffGrace, default));
        return next;
    }

    private async Task<DecidedRecord?> StoredAsync() =>
        (await _bed.Store.GetAsync(GroupKeys.Decided(GroupTestBed.Group))).Item is { } kv ? DecidedRecord.Parse(kv) : null;

    [Fact]
    public async Task Acquire_AfterAFailoverAndADrill_TheNextDeciderShowsTheSameLastFailoverAndDrill()
    {
        // r1 goes silent: its lease lapses, the replicas answer the round, one of them is promoted and confirms.
        await _bed.LeaseLapsedAsync();
        for (var i = 0; i < 40 && _first.State.Leader!.Epoch == 1; i++)
        {
            await GroupTestBed.ReportAsync(_first, "r2", MemberRole.Replica, offset: 100);
            await GroupTestBed.ReportAsync(_first, "r3", MemberRole.Replica, offset: 90);
            await _first.DecideAsync(default);
            _bed.Time.Advance(TimeSpan.FromMilliseconds(200));
        }

        Assert.Equal((2L, "r2"), (_first.State.Leader!.Epoch, _first.State.Leader.Member));
        Assert.Null((await StoredAsync())!.LastFailover!.PromotedAt); // written with the takeover itself
        await GroupTestBed.ReportAsync(_first, "r2", MemberRole.Primary, epoch: 2, primaryOfEpoch: 2);
        await _first.DecideAsync(default);
        Assert.NotNull(_first.State.LastFailover!.PromotedAt);
        var drill = await _first.StartDrillAsync("kill", TimeSpan.FromSeconds(3), 42, default);
        Assert.NotNull(drill);
        Assert.Equal(new DecidedRecord(_first.State.LastFailover, null, drill), await StoredAsync());

        var next = await NextDeciderAsync();

        Assert.Equal(_first.State.LastFailover, next.State.LastFailover);
        Assert.Equal(("r1", "r2", "lease-expired"), (next.State.LastFailover!.From, next.State.LastFailover.To, next.State.LastFailover.Cause));
        Assert.Equal(drill, next.State.Drill);
        // The drill is still asked of the primary's agent, until it reports it done.
        Assert.Equal(("kill", 42L), (next.State.AssignmentFor("r2", renewed: false).Drill, next.State.AssignmentFor("r2", renewed: false).DrillId));
        await GroupTestBed.ReportAsync(next, "r2", MemberRole.Primary, epoch: 2, primaryOfEpoch: 2, drillDone: 42);
        Assert.Null(next.State.Drill);
        await next.DecideAsync(default);
        Assert.Equal(new DecidedRecord(next.State.LastFailover, null, null), await StoredAsync());
    }

    [Fact]
    public async Task Acquire_ASwitchoverWasUnderWay_TheNextDeciderEndsItAndDoesNotHoldThePrimary()
    {
        foreach (var m in GroupTestBed.Members)
        {
            await GroupTestBed.ReportAsync(_first, m, m == "r1" ? MemberRole.Primary : MemberRole.Replica, primaryOfEpoch: m == "r1" ? 1 : 0);
        }

        using var abandon = new CancellationTokenSource();
        var switching = _first.SwitchoverAsync("r2", abandon.Token);
        Assert.Equal("switchover to r2", _first.State.Pending);
        Assert.True(_first.State.AssignmentFor("r1", renewed: true).Fence);
        await _first.DecideAsync(default);
        Assert.Equal("switchover to r2", (await StoredAsync())!.Pending);

        var next = await NextDeciderAsync();

        Assert.Null(next.State.Pending);
        Assert.False(next.State.AssignmentFor("r1", renewed: true).Fence);
        Assert.Null((await StoredAsync())!.Pending);
        await abandon.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => switching.WaitAsync(Bound, TimeProvider.System));
    }

    [Fact]
    public async Task Version_FollowsTheStoreRevision_AndTheNextDeciderAnswersAnIndexOfThePreviousAtOnce()
    {
        var updated = await _first.UpdatePolicyAsync(p => p with { Paused = true }, null, null, default);
        Assert.Equal(updated!.PolicyRevision, updated.Version / GroupActor.VersionsPerRevision);
        var seen = _first.State.Version;
        var waiting = _first.ChangedAfter(seen);
        Assert.False(waiting.IsCompleted);

        await GroupTestBed.ReportAsync(_first, "r2", MemberRole.Replica); // a change only in memory: the same revision, the next version
        Assert.Equal(seen + 1, _first.State.Version);
        await waiting.WaitAsync(Bound, TimeProvider.System);
        seen = _first.State.Version;

        var next = await NextDeciderAsync();

        // Its numbering starts at the revision of its own first write, after everything the previous decider saw.
        var claimed = (await _bed.Store.GetAsync(GroupKeys.Decided(GroupTestBed.Group))).Item!.ModRevision;
        Assert.True(next.State.Version > seen, $"{next.State.Version} after {seen}");
        Assert.Equal(claimed, next.State.Version / GroupActor.VersionsPerRevision);
        Assert.True(next.ChangedAfter(seen).IsCompleted);
        Assert.False(next.ChangedAfter(next.State.Version).IsCompleted);
        // Back on the first server (the membership changed again before it noticed): an index it never handed out is answered at once.
        Assert.True(_first.ChangedAfter(next.State.Version).IsCompleted);
    }
    [Fact]
    public async Task StartDeciding_ASingleServerRestartedWithoutAnyWriteBetween_NumbersAboveItsLastRunAndDropsItsSwitchover()
    {
        // One server (no membership, so no change of membership to write): its versions before the restart came from the
        // revisions it saw; its first write after the restart starts its numbering above them.
        var (stored, revision) = await _bed.ReadAsync();
        var before = new GroupActor(_bed.Context, stored, revision);
        await before.StartDecidingAsync(default);
        await GroupTestBed.ReportAsync(before, "r2", MemberRole.Replica);
        await GroupTestBed.ReportAsync(before, "r3", MemberRole.Replica);
        var last = before.State.Version;
        await _bed.Store.PutAsync(GroupKeys.Decided(GroupTestBed.Group), System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(
            new DecidedRecord(null, "switchover to r3", null), Halo.Core.Serialization.HaloJson.Options)); // as a crash mid-switchover left it

        (stored, revision) = await _bed.ReadAsync();
        var after = new GroupActor(_bed.NewServer(), stored, revision);
        Assert.Equal("switchover to r3", after.State.Pending);
        await after.StartDecidingAsync(default);

        Assert.True(after.State.Version > last, $"{after.State.Version} after {last}");
        Assert.True(after.ChangedAfter(last).IsCompleted);
        Assert.Null(after.State.Pending);
        Assert.Equal(DecidedRecord.None, await StoredAsync());
    }
}
