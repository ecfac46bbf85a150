using System.Net;

namespace Halo.Gateway.Proxy.Http1;

/// <summary>
/// Idle kept-alive connections to one destination, kept per event-thread lane (<see cref="EventLoopLane"/>), most
/// recently used first in each (warm connections are reused, the oldest age out). A request takes a connection of
/// its own lane when there is one and another lane's otherwise, so the pool never opens more connections than one
/// shared list would. A lock around small arrays: uncontended on the fast path and no allocation per rent or return.
/// </summary>
internal sealed class BackendConnectionPool : IDisposable
{
    private readonly object _gate = new();
    private readonly Lane[] _lanes;
    private int _count;
    private bool _disposed;

    public BackendConnectionPool(Uri address, int lanes = 0)
    {
        EndPoint = IPAddress.TryParse(address.IdnHost, out var ip) ? new IPEndPoint(ip, address.Port) : new DnsEndPoint(address.IdnHost, address.Port);
        _lanes = new Lane[lanes > 0 ? lanes : EventLoopLane.Count];
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
                return _count;
            }
        }
    }

    /// <summary>An idle connection, of lane <paramref name="lane"/> when it has one; null when the pool is empty.</summary>
    public BackendConnection? TryRent(int lane)
    {
        lock (_gate)
        {
            if (_count == 0)
            {
                return null;
            }

            _count--;
            var own = _lanes[lane % _lanes.Length];
            if (own.Count > 0)
            {
                return own.Pop();
            }

            // Another lane's: the fullest, so the lanes stay balanced.
            var fullest = _lanes[0];
            foreach (var l in _lanes)
            {
                if (l.Count > fullest.Count)
                {
                    fullest = l;
                }
            }

            return fullest.Pop();
        }
    }

    /// <summary>Puts a reusable connection back, in the lane of the thread its reads complete on (<see cref="BackendConnection.Lane"/>).</summary>
    public void Return(BackendConnection connection, long now)
    {
        connection.IdleSince = now;
        lock (_gate)
        {
            if (!_disposed)
            {
                _lanes[connection.Lane % _lanes.Length].Push(connection);
                _count++;
                return;
            }
        }

        connection.Dispose();
    }

    /// <summary>Closes connections idle since before <paramref name="idleSince"/> (the oldest sit at the bottom of each lane).</summary>
    public void Prune(long idleSince)
    {
        List<BackendConnection>? stale = null;
        lock (_gate)
        {
            foreach (var l in _lanes)
            {
                _count -= l.RemoveOlderThan(idleSince, ref stale);
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
        List<BackendConnection>? all = null;
        lock (_gate)
        {
            _disposed = true;
            foreach (var l in _lanes)
            {
                l.RemoveOlderThan(long.MaxValue, ref all);
            }

            _count = 0;
        }

        if (all is not null)
        {
            foreach (var c in all)
            {
                c.Dispose();
            }
        }
    }

    /// <summary>One lane's idle connections: a stack, the oldest at index 0.</summary>
    private sealed class Lane
    {
        private BackendConnection[] _idle = new BackendConnection[8];

        public int Count { get; private set; }

        public void Push(BackendConnection connection)
        {
            if (Count == _idle.Length)
            {
                Array.Resize(ref _idle, Count * 2);
            }

            _idle[Count++] = connection;
        }

        public BackendConnection Pop()
        {
            var c = _idle[--Count];
            _idle[Count] = null!;
            return c;
        }

        public int RemoveOlderThan(long idleSince, ref List<BackendConnection>? removed)
        {
            var n = 0;
            while (n < Count && _idle[n].IdleSince < idleSince)
            {
                n++;
            }

            if (n > 0)
            {
                (removed ??= []).AddRange(new ReadOnlySpan<BackendConnection>(_idle, 0, n));
                Array.Copy(_idle, n, _idle, 0, Count - n);
                Array.Clear(_idle, Count - n, n);
                Count -= n;
            }

            return n;
        }
    }
}
