using System.Net;

namespace Halo.Gateway.Proxy.Http1;

/// <summary>
/// Idle kept-alive connections to one destination, most recently used first (warm connections are
/// reused, the oldest age out). A lock around small arrays: uncontended on the fast path and no
/// allocation per rent or return. One lane per socket-engine event loop (HAProxy keeps idle server connections per
/// thread): a request takes a connection on its own loop, so client and backend sockets wake the same thread.
/// </summary>
internal sealed class BackendConnectionPool : IDisposable
{
    private readonly object _gate = new();
    private readonly Lane[] _lanes;
    private bool _disposed;

    public BackendConnectionPool(Uri address)
    {
        EndPoint = IPAddress.TryParse(address.IdnHost, out var ip) ? new IPEndPoint(ip, address.Port) : new DnsEndPoint(address.IdnHost, address.Port);
        _lanes = new Lane[Engine.EventLoopGroup.IsEnabled ? Engine.EventLoopGroup.Count : 1];
        for (var i = 0; i < _lanes.Length; i++)
        {
            _lanes[i] = new Lane();
        }
    }

    public EndPoint EndPoint { get; }

    public int IdleCount
    {
        get
        {
            lock (_gate)
            {
                return _lanes.Sum(l => l.Count);
            }
        }
    }

    public BackendConnection? TryRent(int lane = 0)
    {
        lock (_gate)
        {
            var l = _lanes[lane];
            if (l.Count == 0)
            {
                return null;
            }

            var c = l.Idle[--l.Count];
            l.Idle[l.Count] = null!;
            return c;
        }
    }

    public void Return(BackendConnection connection, long now)
    {
        connection.IdleSince = now;
        lock (_gate)
        {
            if (!_disposed)
            {
                var l = _lanes[connection.Lane];
                if (l.Count == l.Idle.Length)
                {
                    Array.Resize(ref l.Idle, l.Count * 2);
                }

                l.Idle[l.Count++] = connection;
                return;
            }
        }

        connection.Dispose();
    }

    /// <summary>Closes connections idle since before <paramref name="idleSince"/> (the oldest sit at the bottom).</summary>
    public void Prune(long idleSince)
    {
        List<BackendConnection>? stale = null;
        lock (_gate)
        {
            foreach (var l in _lanes)
            {
                var n = 0;
                while (n < l.Count && l.Idle[n].IdleSince < idleSince)
                {
                    n++;
                }

                if (n > 0)
                {
                    (stale ??= []).AddRange(l.Idle[..n]);
                    Array.Copy(l.Idle, n, l.Idle, 0, l.Count - n);
                    Array.Clear(l.Idle, l.Count - n, n);
                    l.Count -= n;
                }
            }
        }

        if (stale is not null)
        {
            foreach (var c in stale)
            {
                c.Dispose();
            }
        }
    }

    public void Dispose()
    {
        List<BackendConnection> all = [];
        lock (_gate)
        {
            _disposed = true;
            foreach (var l in _lanes)
            {
                all.AddRange(l.Idle[..l.Count]);
                Array.Clear(l.Idle);
                l.Count = 0;
            }
        }

        foreach (var c in all)
        {
            c.Dispose();
        }
    }

    private sealed class Lane
    {
        public BackendConnection[] Idle = new BackendConnection[16];
        public int Count;
    }
}
