using System.Text;
using Microsoft.Extensions.Time.Testing;

namespace Halo.Store.Tests;

/// <summary>What only the embedded store promises: restarts, its single-process lock, retention and slow watchers.</summary>
public sealed class EmbeddedStoreTests : IDisposable
{
    private readonly TempDirectory _directory = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _directory.Dispose();

    [Fact]
    public async Task OpenAsync_AfterRestart_KeepsKeysRevisionsAndHistory()
    {
        long revision;
        await using (var store = await OpenAsync())
        {
            await store.PutAsync("a", Encoding.UTF8.GetBytes("1"), cancellationToken: Ct);
            revision = await store.PutAsync("b", Encoding.UTF8.GetBytes("2"), cancellationToken: Ct);
        }

        await using var reopened = await OpenAsync();

        Assert.Equal(revision, await reopened.GetRevisionAsync(Ct));
        Assert.Equal(["a", "b"], (await reopened.ListAsync("", Ct)).Items.Select(i => i.Key));
        Assert.Equal(revision + 1, await reopened.PutAsync("c", Encoding.UTF8.GetBytes("3"), cancellationToken: Ct));
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(TimeSpan.FromSeconds(30));
        await using var watch = reopened.WatchAsync("", 0, cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.Equal(["a", "b", "c"], (await TestWait.TakeAsync(watch, 3)).Select(e => e.Item.Key));
    }

    [Fact]
    public async Task OpenAsync_AfterRestart_RestoresLeasesWithAFreshTtl()
    {
        long leaseId;
        await using (var store = await OpenAsync())
        {
            leaseId = (await store.GrantLeaseAsync(TimeSpan.FromSeconds(10), Ct)).Id;
            await store.PutAsync("eph", Encoding.UTF8.GetBytes("1"), leaseId, Ct);
            _time.Advance(TimeSpan.FromSeconds(9)); // nearly expired when the store goes down
        }

        await using var reopened = await OpenAsync();
        _time.Advance(TimeSpan.FromSeconds(5));

        // Down-time does not count against the lease (etcd's rule too): it restarted its 10 s at reopen.
        await reopened.PutAsync("barrier", Encoding.UTF8.GetBytes("x"), cancellationToken: Ct);
        Assert.NotNull((await reopened.GetAsync("eph", Ct)).Item);
        Assert.True(await reopened.KeepAliveAsync(leaseId, Ct));
        var next = await reopened.GrantLeaseAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.NotEqual(leaseId, next.Id);
        _time.Advance(TimeSpan.FromSeconds(11));
        await TestWait.UntilAsync(async () => (await reopened.GetAsync("eph", Ct)).Item is null, because: "the restored lease still expires");
    }

    [Fact]
    public async Task OpenAsync_DirectoryAlreadyOpen_ThrowsStoreUnavailable()
    {
        await using var store = await OpenAsync();

        await Assert.ThrowsAsync<StoreUnavailableException>(() => OpenAsync());
    }

    [Fact]
    public async Task OpenAsync_InvalidOptions_ThrowsNamingTheOption()
    {
        var error = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => OpenAsync(new EmbeddedStoreOptions { HistoryRetention = 0 }));

        Assert.Equal(nameof(EmbeddedStoreOptions.HistoryRetention), error.ParamName);
    }

    [Fact]
    public async Task PutAsync_BeyondHistoryRetention_CompactsOldHistory()
    {
        await using var store = await OpenAsync(new EmbeddedStoreOptions { HistoryRetention = 10 });
        for (var i = 0; i < 30; i++)
        {
            await store.PutAsync($"k{i}", Encoding.UTF8.GetBytes("v"), cancellationToken: Ct);
        }

        await using var old = store.WatchAsync("", 0, Ct).GetAsyncEnumerator(Ct);
        var error = await Assert.ThrowsAsync<RevisionCompactedException>(async () => await old.MoveNextAsync());
        Assert.InRange(error.CompactRevision, 11, 20);
        await using var recent = store.WatchAsync("", 20, Ct).GetAsyncEnumerator(Ct);
        Assert.Equal(Enumerable.Range(21, 10).Select(r => (long)r), (await TestWait.TakeAsync(recent, 10)).Select(e => e.Item.ModRevision));
    }

    [Fact]
    public async Task WatchAsync_WatcherFallsBehindItsBuffer_CatchesUpFromTheLogWithoutGaps()
    {
        const int writes = 500;
        await using var store = await OpenAsync(new EmbeddedStoreOptions { WatchBufferSize = 16 });
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(TimeSpan.FromSeconds(60));
        await using var watch = store.WatchAsync("", 0, cts.Token).GetAsyncEnumerator(cts.Token);
        await store.PutAsync("first", Encoding.UTF8.GetBytes("v"), cancellationToken: Ct);
        Assert.Single(await TestWait.TakeAsync(watch, 1));

        // Nobody reads while these commit, so the 16-slot buffer overflows many times over.
        await Task.WhenAll(Enumerable.Range(0, writes).Select(i => store.PutAsync($"k{i:D4}", Encoding.UTF8.GetBytes("v"), cancellationToken: Ct)));

        var events = await TestWait.TakeAsync(watch, writes);
        Assert.Equal(Enumerable.Range(2, writes).Select(r => (long)r), events.Select(e => e.Item.ModRevision));
    }

    [Fact]
    public async Task DisposeAsync_RunningWatch_EndsWithObjectDisposed()
    {
        var store = await OpenAsync();
        await using var watch = store.WatchAsync("", 0, Ct).GetAsyncEnumerator(Ct);
        var pending = watch.MoveNextAsync().AsTask();

        await store.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => pending.WaitAsync(TimeSpan.FromSeconds(10), Ct));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.PutAsync("a", Encoding.UTF8.GetBytes("1"), cancellationToken: Ct));
    }

    [Fact]
    public async Task PutAsync_ManyConcurrentWriters_AllCommitWithDistinctRevisions()
    {
        await using var store = await OpenAsync();

        var revisions = await Task.WhenAll(Enumerable.Range(0, 2000).Select(i => store.PutAsync($"k{i}", Encoding.UTF8.GetBytes("v"), cancellationToken: Ct)));

        Assert.Equal(Enumerable.Range(1, 2000).Select(r => (long)r), revisions.Order());
        Assert.Equal(2000, (await store.ListAsync("", Ct)).Items.Count);
    }

    [Fact]
    public async Task PutAsync_ManyLargeWrites_CheckpointsTheWalAndKeepsEveryWrite()
    {
        // SQLite's automatic checkpoint keeps the WAL near 1,000 frames; with it off (tried in session 9, see
        // docs/performance.md) and nothing checkpointing instead, 6,000 puts of 4 KB left a WAL of 59 MB.
        var value = new byte[4096];
        Random.Shared.NextBytes(value);
        await using (var store = await OpenAsync())
        {
            for (var wave = 0; wave < 30; wave++)
            {
                await Task.WhenAll(Enumerable.Range(wave * 200, 200).Select(i => store.PutAsync($"k{i:D5}", value, cancellationToken: Ct)));
            }

            var wal = new FileInfo(Path.Combine(_directory.Path, "halo-store.db-wal"));
            Assert.True(wal.Length < 16L * 1024 * 1024, $"the WAL grew to {wal.Length:N0} bytes: it is not being checkpointed");
        }

        await using var reopened = await OpenAsync();
        Assert.Equal(6000, await reopened.GetRevisionAsync(Ct));
        Assert.Equal(value, (await reopened.GetAsync("k05999", Ct)).Item!.Value.ToArray());
        Assert.Equal(value, (await reopened.GetAsync("k00000", Ct)).Item!.Value.ToArray());
    }

    private Task<EmbeddedStore> OpenAsync(EmbeddedStoreOptions? options = null) =>
        EmbeddedStore.OpenAsync(_directory.Path, options ?? new EmbeddedStoreOptions(), _time, cancellationToken: Ct);
}
