using System.Text;

namespace Halo.Store.Tests;

/// <summary>
/// The one contract every <see cref="IStore"/> must satisfy, run against each implementation by a subclass.
/// Tests use their own key prefix and measure revisions relative to the start, so a shared server works.
/// </summary>
public abstract partial class StoreContractTests : IAsyncLifetime
{
    private readonly List<IStore> _retired = [];
    private IStore? _store;

    /// <summary>A prefix unique to this test.</summary>
    protected string P { get; } = $"t/{Guid.NewGuid():N}/";

    protected IStore Store => _store ?? throw new InvalidOperationException("store not open");

    /// <summary>A lease TTL short enough for tests, long enough for etcd's minimum (it rounds 1 s up to 2 s).</summary>
    protected static TimeSpan LeaseTtl => TimeSpan.FromSeconds(2);

    protected abstract Task<IStore> OpenStoreAsync();

    /// <summary>Lets time pass for leases: a fake clock jumps, a real one is waited for.</summary>
    protected abstract Task AdvanceTimeAsync(TimeSpan elapsed);

    /// <summary>Drops history up to <paramref name="revision"/>, through whatever the implementation offers.</summary>
    protected abstract Task CompactAsync(long revision);

    /// <summary>Writes keys under <paramref name="prefix"/> in a process that is killed with SIGKILL mid-stream; returns the acknowledged keys.</summary>
    protected abstract Task<IReadOnlyList<string>> WriteUntilKilledAsync(string prefix, int acknowledgementsBeforeKill);

    /// <summary>Brings the store back after <see cref="WriteUntilKilledAsync"/> and returns a fresh client.</summary>
    protected abstract Task<IStore> RecoverAfterKillAsync();

    public virtual async ValueTask InitializeAsync() => _store = await OpenStoreAsync();

    public virtual async ValueTask DisposeAsync()
    {
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        foreach (var store in _retired)
        {
            await store.DisposeAsync();
        }

        GC.SuppressFinalize(this);
    }

    protected static byte[] B(string text) => Encoding.UTF8.GetBytes(text);

    protected static string S(ReadOnlyMemory<byte> bytes) => Encoding.UTF8.GetString(bytes.Span);

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    protected void ReplaceStore(IStore store)
    {
        if (_store is not null)
        {
            _retired.Add(_store);
        }

        _store = store;
    }

    [Fact]
    public async Task PutAsync_NewKey_BumpsRevisionAndSetsMetadata()
    {
        var before = await Store.GetRevisionAsync(Ct);

        var revision = await Store.PutAsync(P + "a", B("1"), cancellationToken: Ct);

        Assert.Equal(before + 1, revision);
        var got = await Store.GetAsync(P + "a", Ct);
        Assert.NotNull(got.Item);
        Assert.Equal("1", S(got.Item.Value));
        Assert.Equal((revision, revision, 1L, 0L), (got.Item.CreateRevision, got.Item.ModRevision, got.Item.Version, got.Item.LeaseId));
        Assert.Equal(revision, got.Revision);
        Assert.Equal(revision, await Store.GetRevisionAsync(Ct));
    }

    [Fact]
    public async Task PutAsync_ExistingKey_KeepsCreateRevisionAndBumpsVersion()
    {
        var first = await Store.PutAsync(P + "a", B("1"), cancellationToken: Ct);

        var second = await Store.PutAsync(P + "a", B("2"), cancellationToken: Ct);

        var item = (await Store.GetAsync(P + "a", Ct)).Item!;
        Assert.Equal(first + 1, second);
        Assert.Equal((first, second, 2L, "2"), (item.CreateRevision, item.ModRevision, item.Version, S(item.Value)));
    }

    [Fact]
    public async Task PutAsync_EmptyValue_RoundTrips()
    {
        await Store.PutAsync(P + "empty", ReadOnlyMemory<byte>.Empty, cancellationToken: Ct);

        var item = (await Store.GetAsync(P + "empty", Ct)).Item;

        Assert.NotNull(item);
        Assert.Equal(0, item.Value.Length);
    }

    [Fact]
    public async Task PutAsync_UnknownLease_ThrowsLeaseNotFound()
    {
        var error = await Assert.ThrowsAsync<LeaseNotFoundException>(() => Store.PutAsync(P + "a", B("1"), leaseId: 987_654_321, cancellationToken: Ct));

        Assert.Equal(987_654_321, error.LeaseId);
        Assert.Null((await Store.GetAsync(P + "a", Ct)).Item);
    }

    [Fact]
    public async Task GetAsync_MissingKey_ReturnsNullAtCurrentRevision()
    {
        var revision = await Store.PutAsync(P + "other", B("x"), cancellationToken: Ct);

        var got = await Store.GetAsync(P + "missing", Ct);

        Assert.Null(got.Item);
        Assert.True(got.Revision >= revision);
    }

    [Fact]
    public async Task ListAsync_Prefix_ReturnsOnlyMatchingKeysInByteOrder()
    {
        foreach (var key in new[] { "b/2", "b/10", "b/1", "bb", "a", "b/é", "b/z" })
        {
            await Store.PutAsync(P + key, B(key), cancellationToken: Ct);
        }

        var listed = await Store.ListAsync(P + "b/", Ct);

        Assert.Equal(new[] { "b/1", "b/10", "b/2", "b/z", "b/é" }.Select(k => P + k), listed.Items.Select(i => i.Key));
        Assert.Equal(await Store.GetRevisionAsync(Ct), listed.Revision);
        Assert.Equal(7, (await Store.ListAsync(P, Ct)).Items.Count);
    }

    [Fact]
    public async Task DeleteAsync_ExistingKey_DeletesAndBumpsRevision()
    {
        var put = await Store.PutAsync(P + "a", B("1"), cancellationToken: Ct);

        var deleted = await Store.DeleteAsync(P + "a", cancellationToken: Ct);

        Assert.Equal(new DeleteResult(1, put + 1), deleted);
        Assert.Null((await Store.GetAsync(P + "a", Ct)).Item);
    }

    [Fact]
    public async Task DeleteAsync_MissingKey_ReturnsZeroAndKeepsRevision()
    {
        var put = await Store.PutAsync(P + "other", B("1"), cancellationToken: Ct);

        var deleted = await Store.DeleteAsync(P + "missing", cancellationToken: Ct);

        Assert.Equal(new DeleteResult(0, put), deleted);
        Assert.Equal(put, await Store.GetRevisionAsync(Ct));
    }

    [Fact]
    public async Task DeleteAsync_Prefix_DeletesEveryKeyUnderItInOneRevision()
    {
        await Store.PutAsync(P + "d/1", B("1"), cancellationToken: Ct);
        await Store.PutAsync(P + "d/2", B("2"), cancellationToken: Ct);
        var last = await Store.PutAsync(P + "dx", B("3"), cancellationToken: Ct);

        var deleted = await Store.DeleteAsync(P + "d/", prefix: true, cancellationToken: Ct);

        Assert.Equal(new DeleteResult(2, last + 1), deleted);
        Assert.Equal([P + "dx"], (await Store.ListAsync(P, Ct)).Items.Select(i => i.Key));
    }
}
