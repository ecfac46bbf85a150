using System.Text;

namespace Halo.Store.Tests;

/// <summary>A snapshot read from one store loads into another: embedded into etcd, with leased keys left out and order kept.</summary>
public sealed class StoreSnapshotTests(EtcdFixture etcd) : IClassFixture<EtcdFixture>, IDisposable
{
    private readonly TempDirectory _directory = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _directory.Dispose();

    [Fact]
    public async Task RestoreAsync_EmbeddedIntoEtcd_SameKeysAndValuesInWriteOrderWithoutLeasedKeys()
    {
        var prefix = $"snap-{Guid.NewGuid():N}/";
        StoreSnapshot snapshot;
        await using (var source = await EmbeddedStore.OpenAsync(_directory.Path, new EmbeddedStoreOptions(), TimeProvider.System, cancellationToken: Ct))
        {
            await source.PutAsync(prefix + "z-first", B("1"), cancellationToken: Ct);
            await source.PutAsync(prefix + "a-second", B("2"), cancellationToken: Ct);
            await source.PutAsync(prefix + "z-first", B("3"), cancellationToken: Ct);
            var lease = await source.GrantLeaseAsync(TimeSpan.FromSeconds(30), Ct);
            await source.PutAsync(prefix + "alive", B("member"), lease.Id, Ct);
            snapshot = await StoreSnapshot.TakeAsync(source, TimeProvider.System, Ct);
        }

        var file = Path.Combine(_directory.Path, "state.json");
        await snapshot.WriteAsync(file, Ct);
        var loaded = await StoreSnapshot.ReadAsync(file, Ct);
        await using var target = new EtcdStore(new EtcdStoreOptions { Endpoints = etcd.Endpoint }, TimeProvider.System);
        await target.DeleteAsync("", prefix: true, Ct);

        Assert.Equal(2, await loaded.RestoreAsync(target, replace: false, Ct));

        var restored = (await target.ListAsync(prefix, Ct)).Items;
        Assert.Equal([prefix + "a-second", prefix + "z-first"], restored.Select(kv => kv.Key));
        Assert.Equal(["2", "3"], restored.Select(kv => Encoding.UTF8.GetString(kv.Value.Span)));
        // a-second was last written before z-first's second write: the restore keeps that order, at distinct revisions.
        Assert.True(restored[0].ModRevision < restored[1].ModRevision);
        Assert.Equal(snapshot.Revision, loaded.Revision);
    }

    [Fact]
    public async Task RestoreAsync_TargetNotEmpty_RefusesUnlessReplacing()
    {
        await using var target = await EmbeddedStore.OpenAsync(_directory.Path, new EmbeddedStoreOptions(), TimeProvider.System, cancellationToken: Ct);
        await target.PutAsync("registry/instances/web/old", B("old"), cancellationToken: Ct);
        var snapshot = new StoreSnapshot { Revision = 9, Keys = [new StoreSnapshot.Entry("registry/instances/web/new", B("new"))] };

        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => snapshot.RestoreAsync(target, replace: false, Ct));
        Assert.Contains("not empty", refused.Message, StringComparison.Ordinal);
        Assert.Equal(["registry/instances/web/old"], (await target.ListAsync("", Ct)).Items.Select(kv => kv.Key));

        await snapshot.RestoreAsync(target, replace: true, Ct);
        Assert.Equal(["registry/instances/web/new"], (await target.ListAsync("", Ct)).Items.Select(kv => kv.Key));
    }

    [Fact]
    public async Task ReadAsync_NotASnapshot_FormatExceptionNamingTheFile()
    {
        var file = Path.Combine(_directory.Path, "other.json");
        await File.WriteAllTextAsync(file, "{\"format\":\"something-else\"}", Ct);

        var error = await Assert.ThrowsAsync<FormatException>(() => StoreSnapshot.ReadAsync(file, Ct));
        Assert.Contains(file, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RestoreAsync_KeysOfOneSourceTransaction_ShareOneRevisionInTheTarget()
    {
        Directory.CreateDirectory(Path.Combine(_directory.Path, "source"));
        Directory.CreateDirectory(Path.Combine(_directory.Path, "target"));
        StoreSnapshot snapshot;
        await using (var source = await EmbeddedStore.OpenAsync(Path.Combine(_directory.Path, "source"), new EmbeddedStoreOptions(), TimeProvider.System, cancellationToken: Ct))
        {
            await source.PutAsync("registry/instances/web/a", B("a"), cancellationToken: Ct);
            // A change and the event that explains it are written together; readers page by that shared revision.
            await source.TxnAsync(new TxnRequest([], [TxnOp.Put("registry/instances/web/b", B("b")), TxnOp.Put("events/registry/1", B("e"))], []), Ct);
            await source.PutAsync("events/registry/2", B("f"), cancellationToken: Ct);
            snapshot = await StoreSnapshot.TakeAsync(source, TimeProvider.System, Ct);
        }

        var file = Path.Combine(_directory.Path, "state.json");
        await snapshot.WriteAsync(file, Ct);
        await using var target = await EmbeddedStore.OpenAsync(Path.Combine(_directory.Path, "target"), new EmbeddedStoreOptions(), TimeProvider.System, cancellationToken: Ct);
        await (await StoreSnapshot.ReadAsync(file, Ct)).RestoreAsync(target, replace: false, Ct);

        var revision = (await target.ListAsync("", Ct)).Items.ToDictionary(kv => kv.Key, kv => kv.ModRevision);
        Assert.Equal(revision["registry/instances/web/b"], revision["events/registry/1"]);
        Assert.True(revision["registry/instances/web/a"] < revision["events/registry/1"]);
        Assert.True(revision["events/registry/1"] < revision["events/registry/2"]);
    }

    [Theory]
    [InlineData("")]
    [InlineData("{\"format\":\"halo-snapshot/1\",\"keys\":[{\"key\":\"a\",")]
    [InlineData("{}")]
    [InlineData("{\"format\":\"halo-snapshot/1\"}")]
    [InlineData("{\"format\":\"halo-snapshot/1\",\"keys\":null}")]
    [InlineData("{\"format\":\"halo-snapshot/1\",\"keys\":[{\"key\":\"a\",\"value\":\"not base64!\"}]}")]
    [InlineData("[1,2]")]
    public async Task ReadAsync_CorruptOrIncomplete_FormatExceptionSayingNotASnapshot(string text)
    {
        var file = Path.Combine(_directory.Path, "bad.json");
        await File.WriteAllTextAsync(file, text, Ct);

        var error = await Assert.ThrowsAsync<FormatException>(() => StoreSnapshot.ReadAsync(file, Ct));
        Assert.StartsWith($"{file} is not a Halo snapshot", error.Message, StringComparison.Ordinal);
    }

    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);
}
