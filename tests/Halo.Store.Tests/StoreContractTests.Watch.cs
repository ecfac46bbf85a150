namespace Halo.Store.Tests;

public abstract partial class StoreContractTests
{
    [Fact]
    public async Task WatchAsync_FromRevision_ReplaysHistoryThenDeliversLive()
    {
        var start = await Store.GetRevisionAsync(Ct);
        await Store.PutAsync(P + "a", B("1"), cancellationToken: Ct);
        await Store.PutAsync(P + "b", B("2"), cancellationToken: Ct);
        await Store.DeleteAsync(P + "a", cancellationToken: Ct);
        using var cts = Timeout();
        await using var watch = Store.WatchAsync(P, start, cts.Token).GetAsyncEnumerator(cts.Token);

        var replay = await TestWait.TakeAsync(watch, 3);
        await Store.PutAsync(P + "c", B("3"), cancellationToken: Ct);
        var live = Assert.Single(await TestWait.TakeAsync(watch, 1));

        Assert.Equal(
            [(WatchEventType.Put, P + "a", start + 1), (WatchEventType.Put, P + "b", start + 2), (WatchEventType.Delete, P + "a", start + 3)],
            replay.Select(e => (e.Type, e.Item.Key, e.Item.ModRevision)));
        Assert.Equal("2", S(replay[1].Item.Value));
        Assert.Equal((WatchEventType.Put, P + "c", start + 4, "3"), (live.Type, live.Item.Key, live.Item.ModRevision, S(live.Item.Value)));
    }

    [Fact]
    public async Task WatchAsync_ResumedFromLastSeenRevision_MissesAndRepeatsNothing()
    {
        var start = await Store.GetRevisionAsync(Ct);
        for (var i = 0; i < 5; i++)
        {
            await Store.PutAsync(P + $"k{i}", B($"{i}"), cancellationToken: Ct);
        }

        long lastSeen;
        using (var first = Timeout())
        {
            await using var watch = Store.WatchAsync(P, start, first.Token).GetAsyncEnumerator(first.Token);
            lastSeen = (await TestWait.TakeAsync(watch, 3))[^1].Item.ModRevision;
            await first.CancelAsync();
        }

        await Store.PutAsync(P + "k5", B("5"), cancellationToken: Ct);
        await Store.PutAsync(P + "k6", B("6"), cancellationToken: Ct);
        using var cts = Timeout();
        await using var resumed = Store.WatchAsync(P, lastSeen, cts.Token).GetAsyncEnumerator(cts.Token);
        var rest = await TestWait.TakeAsync(resumed, 4);
        await Store.PutAsync(P + "sentinel", B("s"), cancellationToken: Ct);
        var next = Assert.Single(await TestWait.TakeAsync(resumed, 1));

        Assert.Equal(new[] { "k3", "k4", "k5", "k6" }.Select(k => P + k), rest.Select(e => e.Item.Key));
        Assert.Equal(P + "sentinel", next.Item.Key);
    }

    [Fact]
    public async Task WatchAsync_Prefix_DeliversOnlyKeysUnderIt()
    {
        var start = await Store.GetRevisionAsync(Ct);
        using var cts = Timeout();
        await using var watch = Store.WatchAsync(P + "x/", start, cts.Token).GetAsyncEnumerator(cts.Token);

        await Store.PutAsync(P + "y/1", B("1"), cancellationToken: Ct);
        await Store.PutAsync(P + "xx", B("2"), cancellationToken: Ct);
        await Store.PutAsync(P + "x/1", B("3"), cancellationToken: Ct);
        await Store.PutAsync(P + "x/2", B("4"), cancellationToken: Ct);

        Assert.Equal([P + "x/1", P + "x/2"], (await TestWait.TakeAsync(watch, 2)).Select(e => e.Item.Key));
    }

    [Fact]
    public async Task WatchAsync_SeveralWatchesOnOnePrefix_EachGetsEveryChangeAndOneLeavingKeepsTheOthers()
    {
        var start = await Store.GetRevisionAsync(Ct);
        using var cts = Timeout();
        await using var first = Store.WatchAsync(P + "x/", start, cts.Token).GetAsyncEnumerator(cts.Token);
        await using var second = Store.WatchAsync(P + "x/", start, cts.Token).GetAsyncEnumerator(cts.Token);
        await using var other = Store.WatchAsync(P + "y/", start, cts.Token).GetAsyncEnumerator(cts.Token);
        var leaving = Store.WatchAsync(P + "x/", start, cts.Token).GetAsyncEnumerator(cts.Token);

        await Store.PutAsync(P + "x/1", B("1"), cancellationToken: Ct);
        Assert.Equal(P + "x/1", Assert.Single(await TestWait.TakeAsync(leaving, 1)).Item.Key);
        await leaving.DisposeAsync();
        await Store.PutAsync(P + "y/1", B("2"), cancellationToken: Ct);
        await Store.PutAsync(P + "x/2", B("3"), cancellationToken: Ct);

        Assert.Equal([P + "x/1", P + "x/2"], (await TestWait.TakeAsync(first, 2)).Select(e => e.Item.Key));
        Assert.Equal([P + "x/1", P + "x/2"], (await TestWait.TakeAsync(second, 2)).Select(e => e.Item.Key));
        Assert.Equal(P + "y/1", Assert.Single(await TestWait.TakeAsync(other, 1)).Item.Key);
    }

    [Fact]
    public async Task WatchAsync_TransactionAndPrefixDelete_DeliverEveryChangeAtOneRevisionEach()
    {
        var start = await Store.GetRevisionAsync(Ct);
        var txn = await Store.TxnAsync(new TxnRequest([], [TxnOp.Put(P + "d/1", B("1")), TxnOp.Put(P + "d/2", B("2"))], []), Ct);
        var deleted = await Store.DeleteAsync(P + "d/", prefix: true, cancellationToken: Ct);
        using var cts = Timeout();
        await using var watch = Store.WatchAsync(P, start, cts.Token).GetAsyncEnumerator(cts.Token);

        var events = await TestWait.TakeAsync(watch, 4);

        Assert.Equal(
            [(WatchEventType.Put, P + "d/1", txn.Revision), (WatchEventType.Put, P + "d/2", txn.Revision),
             (WatchEventType.Delete, P + "d/1", deleted.Revision), (WatchEventType.Delete, P + "d/2", deleted.Revision)],
            events.Select(e => (e.Type, e.Item.Key, e.Item.ModRevision)));
    }

    [Fact]
    public async Task WatchAsync_CompactedRevision_ThrowsRevisionCompacted()
    {
        var start = await Store.GetRevisionAsync(Ct);
        for (var i = 0; i < 5; i++)
        {
            await Store.PutAsync(P + $"k{i}", B($"{i}"), cancellationToken: Ct);
        }

        var last = await Store.GetRevisionAsync(Ct);
        await CompactAsync(last);

        using var cts = Timeout();
        await using var stale = Store.WatchAsync(P, start, cts.Token).GetAsyncEnumerator(cts.Token);
        var error = await Assert.ThrowsAsync<RevisionCompactedException>(async () => await stale.MoveNextAsync());
        Assert.Equal(last - 1, error.CompactRevision);
        // The revision compacted to stays watchable: that is where a caller resumes after re-listing.
        await using var fresh = Store.WatchAsync(P, last - 1, cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.Equal(P + "k4", Assert.Single(await TestWait.TakeAsync(fresh, 1)).Item.Key);
    }

    [Fact]
    public async Task WatchAsync_LeaseExpiry_DeliversDeleteEvent()
    {
        var start = await Store.GetRevisionAsync(Ct);
        var lease = await Store.GrantLeaseAsync(LeaseTtl, Ct);
        await Store.PutAsync(P + "eph", B("1"), lease.Id, Ct);
        using var cts = Timeout();
        await using var watch = Store.WatchAsync(P, start, cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.Equal(WatchEventType.Put, (await TestWait.TakeAsync(watch, 1))[0].Type);

        await AdvanceTimeAsync(lease.Ttl + TimeSpan.FromSeconds(1));

        var expired = Assert.Single(await TestWait.TakeAsync(watch, 1));
        Assert.Equal((WatchEventType.Delete, P + "eph"), (expired.Type, expired.Item.Key));
    }

    [Fact]
    public async Task WatchAsync_ConcurrentWriters_DeliversEveryChangeOnceInOrder()
    {
        const int writes = 200;
        var start = await Store.GetRevisionAsync(Ct);
        using var cts = Timeout();
        await using var watch = Store.WatchAsync(P, start, cts.Token).GetAsyncEnumerator(cts.Token);

        var writers = Task.WhenAll(Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            for (var i = w; i < writes; i += 8)
            {
                await Store.PutAsync(P + $"c/{i:D3}", B($"{i}"), cancellationToken: Ct);
            }
        })));
        var events = await TestWait.TakeAsync(watch, writes, TimeSpan.FromSeconds(30));
        await writers;

        var revisions = events.Select(e => e.Item.ModRevision).ToList();
        Assert.Equal(Enumerable.Range(1, writes).Select(i => start + i), revisions);
        Assert.Equal(writes, events.Select(e => e.Item.Key).Distinct().Count());
    }

    [Fact]
    public async Task PutAsync_WriterKilled_EveryAcknowledgedWriteSurvives()
    {
        var acknowledged = await WriteUntilKilledAsync(P + "crash/", 300);

        ReplaceStore(await RecoverAfterKillAsync());

        Assert.True(acknowledged.Count >= 300, $"only {acknowledged.Count} acknowledgements before the kill");
        var stored = (await Store.ListAsync(P + "crash/", Ct)).Items.ToDictionary(i => i.Key, i => S(i.Value));
        var lost = acknowledged.Where(k => !stored.TryGetValue(k, out var v) || v != k).ToList();
        Assert.True(lost.Count == 0, $"{lost.Count} of {acknowledged.Count} acknowledged writes lost, e.g. {string.Join(", ", lost.Take(5))}");
    }

    private static CancellationTokenSource Timeout()
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(TimeSpan.FromSeconds(60));
        return cts;
    }
}
