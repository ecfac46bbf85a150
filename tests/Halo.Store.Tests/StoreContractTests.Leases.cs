namespace Halo.Store.Tests;

public abstract partial class StoreContractTests
{
    [Fact]
    public async Task GrantLeaseAsync_TtlBelowOneSecond_ThrowsOutOfRange() =>
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Store.GrantLeaseAsync(TimeSpan.FromMilliseconds(500), Ct));

    [Fact]
    public async Task GrantLeaseAsync_AttachedKeys_AreDeletedWhenLeaseExpires()
    {
        var lease = await Store.GrantLeaseAsync(LeaseTtl, Ct);
        Assert.True(lease.Ttl >= LeaseTtl);
        await Store.PutAsync(P + "eph/1", B("1"), lease.Id, Ct);
        await Store.PutAsync(P + "eph/2", B("2"), lease.Id, Ct);
        await Store.PutAsync(P + "stays", B("3"), cancellationToken: Ct);
        Assert.Equal(lease.Id, (await Store.GetAsync(P + "eph/1", Ct)).Item!.LeaseId);

        await AdvanceTimeAsync(lease.Ttl + TimeSpan.FromSeconds(1));

        await TestWait.UntilAsync(async () => (await Store.ListAsync(P + "eph/", Ct)).Items.Count == 0, because: "keys of an expired lease are deleted");
        Assert.NotNull((await Store.GetAsync(P + "stays", Ct)).Item);
        Assert.False(await Store.KeepAliveAsync(lease.Id, Ct));
    }

    [Fact]
    public async Task KeepAliveAsync_BeforeEachDeadline_KeepsKeysPastTheTtl()
    {
        var lease = await Store.GrantLeaseAsync(LeaseTtl, Ct);
        await Store.PutAsync(P + "eph", B("1"), lease.Id, Ct);

        for (var i = 0; i < 4; i++)
        {
            await AdvanceTimeAsync(TimeSpan.FromSeconds(1));
            Assert.True(await Store.KeepAliveAsync(lease.Id, Ct));
        }

        // Four seconds have passed against a two-second TTL: only the keep-alives kept the key.
        Assert.NotNull((await Store.GetAsync(P + "eph", Ct)).Item);
        await AdvanceTimeAsync(lease.Ttl + TimeSpan.FromSeconds(1));
        await TestWait.UntilAsync(async () => (await Store.GetAsync(P + "eph", Ct)).Item is null, because: "the lease expires once keep-alives stop");
    }

    [Fact]
    public async Task RevokeLeaseAsync_AttachedKeys_DeletedInOneRevision()
    {
        var lease = await Store.GrantLeaseAsync(TimeSpan.FromSeconds(30), Ct);
        await Store.PutAsync(P + "eph/1", B("1"), lease.Id, Ct);
        var last = await Store.PutAsync(P + "eph/2", B("2"), lease.Id, Ct);

        await Store.RevokeLeaseAsync(lease.Id, Ct);

        Assert.Empty((await Store.ListAsync(P + "eph/", Ct)).Items);
        Assert.Equal(last + 1, await Store.GetRevisionAsync(Ct));
        Assert.False(await Store.KeepAliveAsync(lease.Id, Ct));
        await Assert.ThrowsAsync<LeaseNotFoundException>(() => Store.PutAsync(P + "late", B("x"), lease.Id, Ct));
    }

    [Fact]
    public async Task RevokeLeaseAsync_UnknownLease_DoesNothing()
    {
        var before = await Store.PutAsync(P + "a", B("1"), cancellationToken: Ct);

        await Store.RevokeLeaseAsync(123_456_789, Ct);

        Assert.Equal(before, await Store.GetRevisionAsync(Ct));
    }

    [Fact]
    public async Task PutAsync_WithoutLease_DetachesKeyFromItsLease()
    {
        var lease = await Store.GrantLeaseAsync(TimeSpan.FromSeconds(30), Ct);
        await Store.PutAsync(P + "k", B("1"), lease.Id, Ct);

        await Store.PutAsync(P + "k", B("2"), cancellationToken: Ct);
        await Store.RevokeLeaseAsync(lease.Id, Ct);

        var item = (await Store.GetAsync(P + "k", Ct)).Item;
        Assert.NotNull(item);
        Assert.Equal(0, item.LeaseId);
    }

    [Fact]
    public async Task KeepAliveAsync_UnknownLease_ReturnsFalse() =>
        Assert.False(await Store.KeepAliveAsync(555_555_555, Ct));
}
