using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;

namespace Halo.Gateway.Proxy.Engine;

/// <summary>
/// A listening socket on the engine: bound and listening through .NET's Socket (its errors and dual-mode handling), then
/// accepted from with accept4 on an event loop, each new connection going to the next loop in turn.
/// </summary>
internal sealed class LoopListener : IConnectionListener, IEventTarget
{
    private readonly object _gate = new();
    private readonly Socket _socket;
    private readonly int _fd;
    private readonly ulong _cookie;
    private readonly Channel<LoopConnection> _accepted = Channel.CreateUnbounded<LoopConnection>(new UnboundedChannelOptions { SingleReader = true });
    private bool _closed;

    private LoopListener(Socket socket)
    {
        _socket = socket;
        EndPoint = socket.LocalEndPoint!;
        _fd = (int)socket.SafeHandle.DangerousGetHandle();
        var flags = Libc.fcntl(_fd, Libc.F_GETFL, 0);
        if (flags < 0 || Libc.fcntl(_fd, Libc.F_SETFL, flags | Libc.O_NONBLOCK) < 0)
        {
            throw Libc.Error(Libc.Errno);
        }

        _cookie = EventTargetTable.Add(this);
        // Level-triggered: the loop accepts until EAGAIN, and anything left wakes it again.
        EventLoopGroup.Next().Register(_fd, _cookie, Libc.EPOLLIN);
    }

    public EndPoint EndPoint { get; }

    public static LoopListener Bind(IPEndPoint endPoint)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endPoint.Address.Equals(IPAddress.IPv6Any))
            {
                socket.DualMode = true;
            }

            socket.Bind(endPoint);
            socket.Listen(512);
            return new LoopListener(socket);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            socket.Dispose();
            throw new AddressInUseException(ex.Message, ex);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            return await _accepted.Reader.ReadAsync(cancellationToken);
        }
        catch (ChannelClosedException)
        {
            return null;
        }
    }

    public unsafe void OnEvents(uint events)
    {
        var address = stackalloc byte[SocketAddresses.MaxSize];
        lock (_gate)
        {
            while (!_closed)
            {
                var length = SocketAddresses.MaxSize;
                var fd = Libc.accept4(_fd, address, &length, Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC);
                if (fd < 0)
                {
                    // EAGAIN: drained. A transient error such as EMFILE is tried again on the next event (level-triggered:
                    // at once, so a process out of descriptors spins this loop; backing off is not done yet).
                    return;
                }

                LoopSocket socket;
                try
                {
                    socket = LoopSocket.Accepted(fd, EventLoopGroup.Next());
                }
                catch (System.Net.Sockets.SocketException)
                {
                    Libc.close(fd); // epoll_ctl failed (ENOMEM, ENOSPC): the connection is refused, nothing leaks
                    continue;
                }

                var connection = new LoopConnection(socket, SocketAddresses.ToEndPoint(new ReadOnlySpan<byte>(address, length)));
                if (!_accepted.Writer.TryWrite(connection))
                {
                    socket.Dispose();
                }
            }
        }
    }

    public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (!_closed)
            {
                _closed = true;
                EventTargetTable.Remove(_cookie);
                _socket.Dispose();
                _accepted.Writer.TryComplete();
            }
        }

        return default;
    }

    public async ValueTask DisposeAsync()
    {
        await UnbindAsync();
        while (_accepted.Reader.TryRead(out var left))
        {
            await left.DisposeAsync();
        }
    }
}
