namespace Halo.Store.Tests;

public abstract partial class StoreContractTests
{
    [Fact]
    public async Task TxnAsync_CompareAndSetAtCurrentRevision_Succeeds()
    {
        var put = await Store.PutAsync(P + "leader", B("a"), cancellationToken: Ct);

        var result = await Store.TxnAsync(TxnRequest.CompareAndSet(P + "leader", put, B("b")), Ct);

        Assert.True(result.Succeeded);
        Assert.Equal(put + 1, result.Revision);
        Assert.Empty(result.Gets);
        Assert.Equal("b", S((await Store.GetAsync(P + "leader", Ct)).Item!.Value));
    }

    [Fact]
    public async Task TxnAsync_CompareAndSetAtStaleRevision_FailsAndReturnsCurrentValue()
    {
        var first = await Store.PutAsync(P + "leader", B("a"), cancellationToken: Ct);
        var second = await Store.PutAsync(P + "leader", B("b"), cancellationToken: Ct);

        var result = await Store.TxnAsync(TxnRequest.CompareAndSet(P + "leader", first, B("c")), Ct);

        Assert.False(result.Succeeded);
        Assert.Equal(second, result.Revision);
        var current = Assert.Single(result.Gets);
        Assert.Equal(("b", second), (S(current!.Value), current.ModRevision));
        Assert.Equal(second, await Store.GetRevisionAsync(Ct));
    }

    [Fact]
    public async Task TxnAsync_CreateIfMissing_SucceedsOnlyOnce()
    {
        var first = await Store.TxnAsync(TxnRequest.CompareAndSet(P + "k", 0, B("1")), Ct);
        var second = await Store.TxnAsync(TxnRequest.CompareAndSet(P + "k", 0, B("2")), Ct);

        Assert.True(first.Succeeded);
        Assert.False(second.Succeeded);
        Assert.Equal("1", S(second.Gets[0]!.Value));
    }

    [Fact]
    public async Task TxnAsync_ConcurrentCreateIfMissing_ExactlyOneWinner()
    {
        const int contenders = 16;

        var results = await Task.WhenAll(Enumerable.Range(0, contenders).Select(i =>
            Task.Run(() => Store.TxnAsync(new TxnRequest([Compare.Missing(P + "lock")], [TxnOp.Put(P + "lock", B($"{i}"))], [TxnOp.Get(P + "lock")]), Ct))));

        var winner = Assert.Single(results, r => r.Succeeded);
        var holder = S((await Store.GetAsync(P + "lock", Ct)).Item!.Value);
        Assert.All(results.Where(r => !r.Succeeded), r => Assert.Equal(holder, S(r.Gets[0]!.Value)));
        Assert.Equal(1, (await Store.GetAsync(P + "lock", Ct)).Item!.Version);
        Assert.Equal(winner.Revision, (await Store.GetAsync(P + "lock", Ct)).Item!.ModRevision);
    }

    [Fact]
    public async Task TxnAsync_ConcurrentCasFromSameRevision_ExactlyOneWinner()
    {
        const int contenders = 16;
        var epoch = await Store.PutAsync(P + "epoch", B("0"), cancellationToken: Ct);

        var results = await Task.WhenAll(Enumerable.Range(1, contenders).Select(i =>
            Task.Run(() => Store.TxnAsync(TxnRequest.CompareAndSet(P + "epoch", epoch, B($"{i}")), Ct))));

        Assert.Single(results, r => r.Succeeded);
        Assert.Equal(2, (await Store.GetAsync(P + "epoch", Ct)).Item!.Version);
    }

    [Fact]
    public async Task TxnAsync_SeveralWrites_BumpRevisionOnce()
    {
        var before = await Store.PutAsync(P + "old", B("x"), cancellationToken: Ct);

        var result = await Store.TxnAsync(
            new TxnRequest([], [TxnOp.Put(P + "a", B("1")), TxnOp.Put(P + "b", B("2")), TxnOp.Delete(P + "old"), TxnOp.Get(P + "a")], []),
            Ct);

        Assert.True(result.Succeeded);
        Assert.Equal(before + 1, result.Revision);
        var a = (await Store.GetAsync(P + "a", Ct)).Item!;
        var b = (await Store.GetAsync(P + "b", Ct)).Item!;
        Assert.Equal((result.Revision, result.Revision), (a.ModRevision, b.ModRevision));
        Assert.Null((await Store.GetAsync(P + "old", Ct)).Item);
        Assert.Equal("1", S(result.Gets[0]!.Value));
    }

    [Fact]
    public async Task TxnAsync_OnlyReads_KeepsRevision()
    {
        var put = await Store.PutAsync(P + "a", B("1"), cancellationToken: Ct);

        var result = await Store.TxnAsync(new TxnRequest([], [TxnOp.Get(P + "a"), TxnOp.Get(P + "missing"), TxnOp.Delete(P + "missing")], []), Ct);

        Assert.Equal(put, result.Revision);
        Assert.Equal(2, result.Gets.Count);
        Assert.Equal("1", S(result.Gets[0]!.Value));
        Assert.Null(result.Gets[1]);
    }

    [Fact]
    public async Task TxnAsync_MissingKey_ComparesAsZeroButNeverMatchesValue()
    {
        var missing = P + "missing";

        Assert.True(await HoldsAsync(new Compare(missing, CompareTarget.Version, CompareOp.Equal, 0)));
        Assert.True(await HoldsAsync(new Compare(missing, CompareTarget.ModRevision, CompareOp.Less, 1)));
        Assert.False(await HoldsAsync(new Compare(missing, CompareTarget.Value, CompareOp.Equal, Value: B(""))));
        Assert.False(await HoldsAsync(new Compare(missing, CompareTarget.Value, CompareOp.NotEqual, Value: B("x"))));
    }

    [Fact]
    public async Task TxnAsync_VersionAndValueCompares_FollowEtcdSemantics()
    {
        var key = P + "k";
        var created = await Store.PutAsync(key, B("m"), cancellationToken: Ct);
        await Store.PutAsync(key, B("m"), cancellationToken: Ct);

        Assert.True(await HoldsAsync(new Compare(key, CompareTarget.Version, CompareOp.Equal, 2)));
        Assert.True(await HoldsAsync(new Compare(key, CompareTarget.Version, CompareOp.Greater, 1)));
        Assert.True(await HoldsAsync(new Compare(key, CompareTarget.CreateRevision, CompareOp.Equal, created)));
        Assert.True(await HoldsAsync(new Compare(key, CompareTarget.Value, CompareOp.Equal, Value: B("m"))));
        Assert.True(await HoldsAsync(new Compare(key, CompareTarget.Value, CompareOp.Less, Value: B("n"))));
        Assert.True(await HoldsAsync(new Compare(key, CompareTarget.Value, CompareOp.Greater, Value: B("l"))));
        Assert.False(await HoldsAsync(new Compare(key, CompareTarget.Value, CompareOp.NotEqual, Value: B("m"))));
        Assert.False(await HoldsAsync(new Compare(key, CompareTarget.Version, CompareOp.Less, 2)));
    }

    [Fact]
    public async Task TxnAsync_FailureBranch_RunsFailureOps()
    {
        var result = await Store.TxnAsync(
            new TxnRequest([Compare.ModRevisionIs(P + "missing", 42)], [TxnOp.Put(P + "success", B("s"))], [TxnOp.Put(P + "failure", B("f"))]),
            Ct);

        Assert.False(result.Succeeded);
        Assert.Null((await Store.GetAsync(P + "success", Ct)).Item);
        Assert.Equal(result.Revision, (await Store.GetAsync(P + "failure", Ct)).Item!.ModRevision);
    }

    [Fact]
    public async Task TxnAsync_SameKeyWrittenTwice_ThrowsArgument()
    {
        var request = new TxnRequest([], [TxnOp.Put(P + "a", B("1")), TxnOp.Put(P + "a", B("2"))], []);

        await Assert.ThrowsAnyAsync<ArgumentException>(() => Store.TxnAsync(request, Ct));

        Assert.Null((await Store.GetAsync(P + "a", Ct)).Item);
    }

    [Fact]
    public async Task TxnAsync_PutOnUnknownLease_ThrowsLeaseNotFoundAndWritesNothing()
    {
        var request = new TxnRequest([], [TxnOp.Put(P + "a", B("1")), TxnOp.Put(P + "b", B("2"), leaseId: 987_654_321)], []);

        await Assert.ThrowsAsync<LeaseNotFoundException>(() => Store.TxnAsync(request, Ct));

        Assert.Empty((await Store.ListAsync(P, Ct)).Items);
    }

    private async Task<bool> HoldsAsync(Compare compare) => (await Store.TxnAsync(new TxnRequest([compare], [], []), Ct)).Succeeded;
}
