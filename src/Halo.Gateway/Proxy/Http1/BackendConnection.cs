using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Halo.Gateway.Proxy.Engine;

namespace Halo.Gateway.Proxy.Http1;

/// <summary>
/// One kept-alive HTTP/1.1 connection to a destination: the socket, a receive buffer and a timer that
/// closes the socket when an attempt overruns (connect timeout, per-try timeout). A connection that
/// timed out or failed is never reused. On the gateway's socket engine (Linux) the socket is a <see cref="LoopSocket"/> on
/// the client connection's event loop, so the answer wakes the thread that serves the client; elsewhere a .NET Socket.
/// </summary>
internal sealed class BackendConnection : IDisposable
{
    public const int BufferSize = 16 * 1024;

    private readonly Socket? _socket;
    private readonly LoopSocket? _loopSocket;
    private readonly CancellationTokenSource _timeout;
    private bool _disposed;

    private BackendConnection(Socket? socket, LoopSocket? loopSocket, TimeProvider time)
    {
        _socket = socket;
        _loopSocket = loopSocket;
        // One timer per connection, re-armed per read: cheaper than a token per operation, and when it
        // fires the socket is closed, which completes whatever read or write is pending with an error.
        _timeout = new CancellationTokenSource(Timeout.InfiniteTimeSpan, time);
        _timeout.Token.UnsafeRegister(static s => ((IDisposable)s!).Dispose(), (IDisposable?)socket ?? loopSocket);
        Buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
    }

    /// <summary>The pool lane: the event loop the socket is on (0 off the engine).</summary>
    public int Lane => _loopSocket?.Loop.Index ?? 0;

    /// <summary>Receive buffer; unread bytes are [Start, End).</summary>
    public byte[] Buffer { get; private set; }

    public int Start { get; set; }

    public int End { get; set; }

    /// <summary>Requests completed on this connection (0: fresh).</summary>
    public int Uses { get; set; }

    /// <summary>When it was put back in the pool (timestamp).</summary>
    public long IdleSince { get; set; }

    /// <summary>True once the timer fired: the failure in progress is a timeout.</summary>
    public bool TimedOut => _timeout.IsCancellationRequested;

    /// <summary>Opens a connection within <paramref name="timeout"/>; throws on refusal, unreachable or timeout.</summary>
    public static async ValueTask<BackendConnection> ConnectAsync(EndPoint endPoint, TimeSpan timeout, TimeProvider time, EventLoop? loop = null)
    {
        if (loop is not null)
        {
            return await ConnectOnLoopAsync(endPoint, timeout, time, loop);
        }

        // A name may resolve to IPv4 or IPv6: a dual-mode socket takes either.
        var socket = endPoint is DnsEndPoint
            ? new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true }
            : new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        var connection = new BackendConnection(socket, null, time);
        try
        {
            connection.Arm(timeout);
            await socket.ConnectAsync(endPoint);
            connection.Disarm();
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    private static async ValueTask<BackendConnection> ConnectOnLoopAsync(EndPoint endPoint, TimeSpan timeout, TimeProvider time, EventLoop loop)
    {
        if (endPoint is IPEndPoint ip)
        {
            return await ConnectOneAsync(ip, timeout, time, loop);
        }

        // A name is resolved per connection, as HttpClient does, and every address is tried in turn (as .NET's
        // Socket.ConnectAsync(DnsEndPoint) does: 'localhost' may give ::1 first to a backend on 127.0.0.1), all within
        // one connect timeout that includes the lookup.
        var dns = (DnsEndPoint)endPoint;
        var started = time.GetTimestamp();
        using var resolving = new CancellationTokenSource(timeout, time);
        var addresses = await Dns.GetHostAddressesAsync(dns.Host, resolving.Token);
        Exception failure = new SocketException((int)SocketError.HostNotFound);
        foreach (var address in addresses)
        {
            var left = timeout - time.GetElapsedTime(started);
            if (left <= TimeSpan.Zero)
            {
                throw new SocketException((int)SocketError.TimedOut);
            }

            try
            {
                return await ConnectOneAsync(new IPEndPoint(address, dns.Port), left, time, loop);
            }
            catch (SocketException ex)
            {
                failure = ex;
            }
        }

        throw failure;
    }

    private static async ValueTask<BackendConnection> ConnectOneAsync(IPEndPoint ip, TimeSpan timeout, TimeProvider time, EventLoop loop)
    {
        var connection = new BackendConnection(null, LoopSocket.Create(ip.AddressFamily, loop), time);
        try
        {
            connection.Arm(timeout);
            await connection._loopSocket!.ConnectAsync(ip);
            connection.Disarm();
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    // The source was created with the injected TimeProvider, so CancelAfter re-arms that clock's timer (the ban targets sources
    // on the real clock); one re-armable timer per connection keeps the hot path free of allocations that a Deadline would cost.
#pragma warning disable RS0030
    public void Arm(TimeSpan timeout) => _timeout.CancelAfter(timeout);

    public void Disarm() => _timeout.CancelAfter(Timeout.InfiniteTimeSpan);
#pragma warning restore RS0030

    /// <summary>Reads into the buffer after <see cref="End"/>; 0 at end of stream.</summary>
    public ValueTask<int> ReceiveAsync() => ReceiveAsync(Buffer.AsMemory(End));

    /// <summary>Reads into caller memory (a response body straight into the client's output).</summary>
    public ValueTask<int> ReceiveAsync(Memory<byte> destination) =>
        _loopSocket is { } loopSocket ? loopSocket.ReceiveAsync(destination) : _socket!.ReceiveAsync(destination, SocketFlags.None);

    public ValueTask SendAsync(ReadOnlyMemory<byte> data)
    {
        if (_loopSocket is { } loopSocket)
        {
#pragma warning disable CA2012 // consumed once, here or in AwaitSendAsync
            var sending = loopSocket.SendAsync(data);
            return sending.IsCompletedSuccessfully ? default : AwaitSendAsync(sending);
#pragma warning restore CA2012
        }

        // Loopback and LAN sends nearly always complete at once; only a full socket buffer awaits.
#pragma warning disable CA2012 // consumed once: either its result is read here or it is awaited in SendSlowAsync
        var pending = _socket!.SendAsync(data, SocketFlags.None);
        if (pending.IsCompletedSuccessfully && pending.Result == data.Length)
        {
            return default;
        }

        return SendSlowAsync(pending, data);
#pragma warning restore CA2012
    }

    /// <summary>Moves unread bytes to the front, growing the buffer (up to <paramref name="max"/>) when it is full.</summary>
    public bool MakeRoom(int max)
    {
        if (Start > 0)
        {
            Buffer.AsSpan(Start, End - Start).CopyTo(Buffer);
            End -= Start;
            Start = 0;
        }

        if (End < Buffer.Length)
        {
            return true;
        }

        if (Buffer.Length >= max)
        {
            return false;
        }

        var bigger = ArrayPool<byte>.Shared.Rent(Math.Min(max, Buffer.Length * 2));
        Buffer.AsSpan(0, End).CopyTo(bigger);
        ArrayPool<byte>.Shared.Return(Buffer);
        Buffer = bigger;
        return true;
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _timeout.Dispose();
        _socket?.Dispose();
        _loopSocket?.Dispose();
        ArrayPool<byte>.Shared.Return(Buffer);
        Buffer = [];
    }

    private static async ValueTask AwaitSendAsync(ValueTask<int> sending) => await sending;

    private async ValueTask SendSlowAsync(ValueTask<int> pending, ReadOnlyMemory<byte> data)
    {
        var sent = await pending;
        data = data[sent..];
        while (!data.IsEmpty)
        {
            sent = await _socket!.SendAsync(data, SocketFlags.None);
            data = data[sent..];
        }
    }
}
