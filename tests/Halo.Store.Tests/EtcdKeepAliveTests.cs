using System.Net;
using System.Net.Sockets;

namespace Halo.Store.Tests;

/// <summary>
/// Lease keep-alives go to every listed etcd member at once on their own connections (EtcdStore.KeepAlive.cs): the first
/// member that says the lease lives answers, a member that is down costs nothing, and "the lease is gone" still comes through.
/// </summary>
public sealed class EtcdKeepAliveTests(EtcdFixture etcd) : IClassFixture<EtcdFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task KeepAliveAsync_OneListedMemberDown_RenewedByTheOtherAtOnce()
    {
        await using var store = StoreWithADeadMemberFirst();
        var lease = await store.GrantLeaseAsync(TimeSpan.FromSeconds(5), Ct);
        for (var i = 0; i < 5; i++)
        {
            var started = TimeProvider.System.GetTimestamp();
            Assert.True(await store.KeepAliveAsync(lease.Id, Ct));
            Assert.True(TimeProvider.System.GetElapsedTime(started) < TimeSpan.FromSeconds(2), "a renewal waited for the member that is down");
        }
    }

    [Fact]
    public async Task KeepAliveAsync_RevokedLeaseAndAMemberDown_ReturnsFalse()
    {
        await using var store = StoreWithADeadMemberFirst();
        var lease = await store.GrantLeaseAsync(TimeSpan.FromSeconds(5), Ct);
        await store.RevokeLeaseAsync(lease.Id, Ct);
        Assert.False(await store.KeepAliveAsync(lease.Id, Ct));
    }

    [Fact]
    public async Task KeepAliveAsync_NoMemberUp_ThrowsStoreUnavailable()
    {
        await using var store = new EtcdStore(new EtcdStoreOptions { Endpoints = $"http://127.0.0.1:{FreePort()}", RequestTimeout = TimeSpan.FromSeconds(1), AttemptTimeout = TimeSpan.FromMilliseconds(500) }, TimeProvider.System);
        await Assert.ThrowsAsync<StoreUnavailableException>(() => store.KeepAliveAsync(42, Ct).WaitAsync(TimeSpan.FromSeconds(20), Ct));
    }

    private EtcdStore StoreWithADeadMemberFirst() =>
        new(new EtcdStoreOptions { Endpoints = $"http://127.0.0.1:{FreePort()},{etcd.Endpoint}", RequestTimeout = TimeSpan.FromSeconds(5) }, TimeProvider.System);

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
