using System.Net;

namespace Halo.Gateway.Proxy.Http1;

/// <summary>
/// Idle kept-alive connections to one destination, most recently used first (warm connections are
/// reused, the oldest age out). A lock around a small array: uncontended on the fast path and no
/// allocation per rent or return.
/// </summary>
internal sealed class BackendConnectionPool : IDisposable
{
    private readonly object _gate = new();
    private BackendConnection[] _idle = new BackendConnection[16];
    private int _count;
    private bool _disposed;

    public BackendConnectionPool(Uri address)
    {
        EndPoint = IPAddress.TryParse(address.IdnHost, out var ip) ? new IPEndPoint(ip, address.Port) : new DnsEndPoint(address.IdnHost, address.Port);
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

    public BackendConnection? TryRent()
    {
        lock (_gate)
        {
            if (_count == 0)
            {
                return null;
            }

            var c = _idle[--_count];
            _idle[_count] = null!;
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
                if (_count == _idle.Length)
                {
                    Array.Resize(ref _idle, _count * 2);
                }

                _idle[_count++] = connection;
                return;
            }
        }

        connection.Dispose();
    }

    /// <summary>Closes connections idle since before <paramref name="idleSince"/> (the oldest sit at the bottom).</summary>
    public void Prune(long idleSince)
    {
        BackendConnection[]? stale = null;
        var n = 0;
        lock (_gate)
        {
            while (n < _count && _idle[n].IdleSince < idleSince)
            {
                n++;
            }

            if (n > 0)
            {
                stale = _idle[..n];
                Array.Copy(_idle, n, _idle, 0, _count - n);
                Array.Clear(_idle, _count - n, n);
                _count -= n;
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
        BackendConnection[] all;
        lock (_gate)
        {
            _disposed = true;
            all = _idle[.._count];
            Array.Clear(_idle);
            _count = 0;
        }

        foreach (var c in all)
        {
            c.Dispose();
        }
    }
}
