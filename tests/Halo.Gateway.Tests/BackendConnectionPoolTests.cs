using System.Net;
using System.Net.Sockets;
using Halo.Gateway.Proxy.Http1;

namespace Halo.Gateway.Tests;

/// <summary>The fast path's backend connection pool: per-lane reuse, stealing across lanes, idle pruning.</summary>
public sealed class BackendConnectionPoolTests : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);

    public BackendConnectionPoolTests() => _listener.Start(64);

    public void Dispose() => _listener.Dispose();

    private Uri Address => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}");

    private async Task<BackendConnection> OpenAsync(BackendConnectionPool pool, int lane)
    {
        var c = await BackendConnection.ConnectAsync(pool.EndPoint, TimeSpan.FromSeconds(5), TimeProvider.System);
        c.Lane = lane;
        return c;
    }

    [Fact]
    public async Task TryRent_OwnLaneHasOne_TakesItNotAnotherLanes()
    {
        using var pool = new BackendConnectionPool(Address, lanes: 2);
        var a = await OpenAsync(pool, 0);
        var b = await OpenAsync(pool, 1);
        pool.Return(a, 1);
        pool.Return(b, 2); // most recently returned overall, but lane 1's

        Assert.Same(a, pool.TryRent(0));
        Assert.Same(b, pool.TryRent(0)); // lane 0 now empty: lane 1's is taken rather than opening another
        Assert.Null(pool.TryRent(0));
        Assert.Equal(0, pool.IdleCount);
        a.Dispose();
        b.Dispose();
    }

    [Fact]
    public async Task TryRent_OwnLaneEmpty_StealsFromTheFullestLane()
    {
        using var pool = new BackendConnectionPool(Address, lanes: 3);
        var one = await OpenAsync(pool, 1);
        var two1 = await OpenAsync(pool, 2);
        var two2 = await OpenAsync(pool, 2);
        pool.Return(one, 1);
        pool.Return(two1, 2);
        pool.Return(two2, 3);

        Assert.Same(two2, pool.TryRent(0));
        Assert.Equal(2, pool.IdleCount);
        two2.Dispose();
    }

    [Fact]
    public async Task Prune_ClosesOnlyConnectionsIdleBeforeTheCutInEveryLane()
    {
        using var pool = new BackendConnectionPool(Address, lanes: 2);
        var old0 = await OpenAsync(pool, 0);
        var old1 = await OpenAsync(pool, 1);
        var new0 = await OpenAsync(pool, 0);
        pool.Return(old0, 10);
        pool.Return(old1, 10);
        pool.Return(new0, 20);

        pool.Prune(15);

        Assert.Equal(1, pool.IdleCount);
        Assert.Same(new0, pool.TryRent(1));
        Assert.Empty(old0.Buffer); // disposed: buffer returned
        Assert.Empty(old1.Buffer);
        new0.Dispose();
    }

    [Fact]
    public async Task Return_AfterDispose_ClosesTheConnection()
    {
        var pool = new BackendConnectionPool(Address, lanes: 2);
        var c = await OpenAsync(pool, 1);
        pool.Dispose();

        pool.Return(c, 1);

        Assert.Equal(0, pool.IdleCount);
        Assert.Empty(c.Buffer);
    }
}
