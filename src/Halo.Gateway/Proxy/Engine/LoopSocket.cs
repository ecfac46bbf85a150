using System.Net;
using System.Net.Sockets;

namespace Halo.Gateway.Proxy.Engine;

/// <summary>
/// A non-blocking TCP socket on an <see cref="EventLoop"/>, edge-triggered. Unlike .NET's Socket, a receive is tried at
/// once only while the socket may hold data: a short read means drained (HAProxy's rule), and the next receive waits for
/// epoll instead of making a call that fails with EAGAIN, which .NET's engine does twice per proxied request. Every call
/// on the descriptor is made under the socket's lock and never after <see cref="Dispose"/>, so a close from another
/// thread (a timeout's timer) cannot race a call into a reused descriptor. Continuations run inline on the loop thread.
/// </summary>
internal sealed unsafe class LoopSocket : IEventTarget, IDisposable
{
    /// <summary>The result of a receive or send cut short by <see cref="CancelReceive"/> or <see cref="CancelSend"/>.</summary>
    public const int Canceled = -2;

    private const uint Interest = Libc.EPOLLIN | Libc.EPOLLOUT | Libc.EPOLLRDHUP | Libc.EPOLLET;
    private const uint ReadEvents = Libc.EPOLLIN | Libc.EPOLLRDHUP | Libc.EPOLLHUP | Libc.EPOLLERR;
    private const uint WriteEvents = Libc.EPOLLOUT | Libc.EPOLLHUP | Libc.EPOLLERR;

    private readonly object _gate = new();
    private readonly SocketOperation _receive = new();
    private readonly SocketOperation _send = new();
    private readonly ulong _cookie;
    private readonly int _fd;
    private bool _readable = true;   // may hold data: a receive is tried at once
    private bool _writable = true;
    private bool _closed;
    private bool _peerClosed;        // an event said end of stream or error: a short read no longer means drained
    private bool _receivePending;
    private bool _sendPending;
    private bool _connectPending;
    private Memory<byte> _receiveBuffer;
    private ReadOnlyMemory<byte> _sendData;

    private LoopSocket(int fd, EventLoop loop)
    {
        _fd = fd;
        Loop = loop;
        _cookie = EventTargetTable.Add(this);
        var one = 1;
        Libc.setsockopt(fd, Libc.IPPROTO_TCP, Libc.TCP_NODELAY, &one, sizeof(int));
    }

    /// <summary>The loop whose thread completes this socket's operations.</summary>
    public EventLoop Loop { get; }

    /// <summary>Wraps a descriptor from accept4 (non-blocking already) and registers it.</summary>
    public static LoopSocket Accepted(int fd, EventLoop loop)
    {
        var socket = new LoopSocket(fd, loop);
        try
        {
            loop.Register(fd, socket._cookie, Interest);
        }
        catch
        {
            EventTargetTable.Remove(socket._cookie);
            throw;
        }

        return socket;
    }

    /// <summary>
    /// Called once, on the loop thread, when an event first says the peer closed or reset the connection (Kestrel's transport
    /// turns a FIN or RST into ConnectionClosed, hence RequestAborted, even while nobody reads). Must not block.
    /// </summary>
    public Action<object?>? PeerClosed { get; set; }

    public object? PeerClosedState { get; set; }

    /// <summary>A new socket for <see cref="ConnectAsync"/>.</summary>
    public static LoopSocket Create(AddressFamily family, EventLoop loop)
    {
        var fd = Libc.socket(family == AddressFamily.InterNetworkV6 ? 10 : 2, Libc.SOCK_STREAM | Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            throw Libc.Error(Libc.Errno);
        }

        return new LoopSocket(fd, loop);
    }

    public IPEndPoint? LocalEndPoint()
    {
        var buffer = stackalloc byte[SocketAddresses.MaxSize];
        var length = SocketAddresses.MaxSize;
        lock (_gate)
        {
            if (_closed || Libc.getsockname(_fd, buffer, &length) < 0)
            {
                return null;
            }
        }

        return SocketAddresses.ToEndPoint(new ReadOnlySpan<byte>(buffer, length));
    }

    /// <summary>Connects; completes (0) once connected, or throws.</summary>
    public ValueTask<int> ConnectAsync(IPEndPoint endPoint)
    {
        var address = endPoint.Serialize();
        lock (_gate)
        {
            if (_closed)
            {
                return Closed();
            }

            int rc;
            fixed (byte* p = address.Buffer.Span)
            {
                rc = Libc.connect(_fd, p, address.Size);
            }

            var errno = rc < 0 ? Libc.Errno : 0;
            if (rc < 0 && errno != Libc.EINPROGRESS)
            {
                return ValueTask.FromException<int>(Libc.Error(errno));
            }

            // Registered after connect: an unconnected socket polls as writable-and-hung-up, which must not read as "connected".
            ValueTask<int> result = default;
            if (rc < 0)
            {
                _connectPending = true;
                result = _send.Start();
            }

            Loop.Register(_fd, _cookie, Interest);
            return result;
        }
    }

    /// <summary>Receives into <paramref name="buffer"/>: the byte count, 0 at end of stream, <see cref="Canceled"/>; throws on error.</summary>
    public ValueTask<int> ReceiveAsync(Memory<byte> buffer)
    {
        lock (_gate)
        {
            if (_closed)
            {
                return Closed();
            }

            if (_readable)
            {
                var n = Receive(buffer.Span, out var errno);
                if (n >= 0)
                {
                    return new ValueTask<int>(n);
                }

                if (errno != Libc.EAGAIN)
                {
                    return ValueTask.FromException<int>(Libc.Error(errno));
                }
            }

            _receiveBuffer = buffer;
            _receivePending = true;
            return _receive.Start();
        }
    }

    /// <summary>Sends all of <paramref name="data"/> (0 when done, <see cref="Canceled"/>); throws on error.</summary>
    public ValueTask<int> SendAsync(ReadOnlyMemory<byte> data)
    {
        lock (_gate)
        {
            if (_closed)
            {
                return Closed();
            }

            var errno = _writable ? SendSome(ref data) : Libc.EAGAIN;
            if (data.IsEmpty)
            {
                return default;
            }

            if (errno != Libc.EAGAIN)
            {
                return ValueTask.FromException<int>(Libc.Error(errno));
            }

            _sendData = data;
            _sendPending = true;
            return _send.Start();
        }
    }

    /// <summary>Ends a pending receive with <see cref="Canceled"/> (PipeReader.CancelPendingRead).</summary>
    public void CancelReceive()
    {
        lock (_gate)
        {
            if (!_receivePending)
            {
                return;
            }

            _receivePending = false;
            _receiveBuffer = default;
        }

        _receive.Complete(Canceled);
    }

    /// <summary>Ends a pending send with <see cref="Canceled"/> (PipeWriter.CancelPendingFlush).</summary>
    public void CancelSend()
    {
        lock (_gate)
        {
            if (!_sendPending)
            {
                return;
            }

            _sendPending = false;
            _sendData = default;
        }

        _send.Complete(Canceled);
    }

    /// <summary>Both directions shut down (a graceful end; the peer reads end of stream).</summary>
    public void Shutdown()
    {
        lock (_gate)
        {
            if (!_closed)
            {
                Libc.shutdown(_fd, Libc.SHUT_RDWR);
            }
        }
    }

    public void OnEvents(uint events)
    {
        SocketOperation? received = null, sent = null;
        var peerJustClosed = false;
        var receiveResult = 0;
        var sendResult = 0;
        Exception? receiveError = null, sendError = null;
        lock (_gate)
        {
            if (_closed)
            {
                return;
            }

            if ((events & (Libc.EPOLLRDHUP | Libc.EPOLLHUP | Libc.EPOLLERR)) != 0)
            {
                // The peer's FIN (or an error) may have come with the last data: no further edge will announce it.
                peerJustClosed = !_peerClosed;
                _peerClosed = true;
            }

            if ((events & ReadEvents) != 0)
            {
                _readable = true;
                if (_receivePending)
                {
                    var n = Receive(_receiveBuffer.Span, out var errno);
                    if (n >= 0 || errno != Libc.EAGAIN)
                    {
                        _receivePending = false;
                        _receiveBuffer = default;
                        received = _receive;
                        receiveResult = n;
                        receiveError = n < 0 ? Libc.Error(errno) : null;
                    }
                }
            }

            if ((events & WriteEvents) != 0)
            {
                _writable = true;
                if (_connectPending)
                {
                    var error = 0;
                    var length = sizeof(int);
                    Libc.getsockopt(_fd, Libc.SOL_SOCKET, Libc.SO_ERROR, &error, &length);
                    if (error != 0 || (events & Libc.EPOLLOUT) != 0)
                    {
                        _connectPending = false;
                        sent = _send;
                        sendError = error != 0 ? Libc.Error(error) : null;
                    }
                }
                else if (_sendPending)
                {
                    var errno = SendSome(ref _sendData);
                    if (_sendData.IsEmpty || errno != Libc.EAGAIN)
                    {
                        _sendPending = false;
                        sendError = _sendData.IsEmpty ? null : Libc.Error(errno);
                        _sendData = default;
                        sent = _send;
                    }
                }
            }
        }

        Finish(sent, sendResult, sendError);
        Finish(received, receiveResult, receiveError);
        if (peerJustClosed)
        {
            PeerClosed?.Invoke(PeerClosedState);
        }
    }

    public void Dispose()
    {
        bool receiving, sending;
        lock (_gate)
        {
            if (_closed)
            {
                return;
            }

            _closed = true;
            receiving = _receivePending;
            sending = _sendPending || _connectPending;
            _receivePending = _sendPending = _connectPending = false;
            _receiveBuffer = default;
            _sendData = default;
            EventTargetTable.Remove(_cookie);
            Libc.close(_fd); // also leaves the epoll set
        }

        if (receiving)
        {
            _receive.Fail(new ObjectDisposedException(nameof(LoopSocket)));
        }

        if (sending)
        {
            _send.Fail(new ObjectDisposedException(nameof(LoopSocket)));
        }
    }

    private static void Finish(SocketOperation? operation, int result, Exception? error)
    {
        if (operation is null)
        {
            return;
        }

        if (error is null)
        {
            operation.Complete(result);
        }
        else
        {
            operation.Fail(error);
        }
    }

    private static ValueTask<int> Closed() => ValueTask.FromException<int>(new ObjectDisposedException(nameof(LoopSocket)));

    /// <summary>One recv: a short read marks the socket drained. Under the lock.</summary>
    private int Receive(Span<byte> buffer, out int errno)
    {
        nint n;
        fixed (byte* p = buffer)
        {
            n = Libc.recv(_fd, p, buffer.Length, 0);
        }

        if (n < 0)
        {
            errno = Libc.Errno;
            if (errno == Libc.EAGAIN)
            {
                _readable = false;
            }

            return -1;
        }

        errno = 0;
        if (n > 0 && n < buffer.Length && !_peerClosed)
        {
            _readable = false;
        }

        return (int)n;
    }

    /// <summary>Sends until done or the socket is full (EAGAIN, returned) or fails (errno). Under the lock.</summary>
    private int SendSome(ref ReadOnlyMemory<byte> data)
    {
        while (!data.IsEmpty)
        {
            nint n;
            fixed (byte* p = data.Span)
            {
                n = Libc.send(_fd, p, data.Length, Libc.MSG_NOSIGNAL);
            }

            if (n < 0)
            {
                var errno = Libc.Errno;
                if (errno == Libc.EINTR)
                {
                    continue;
                }

                if (errno == Libc.EAGAIN)
                {
                    _writable = false;
                }

                return errno;
            }

            data = data[(int)n..];
        }

        return 0;
    }
}
