using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;

namespace Halo.Gateway.Proxy.Engine;

/// <summary>
/// A client connection's input, read straight from its <see cref="LoopSocket"/> into one pooled buffer when the reader
/// asks for more (no receive loop, no pipe between the socket and the fast path or Kestrel).
/// </summary>
internal sealed class LoopPipeReader : PipeReader
{
    private const int InitialSize = 8 * 1024;

    private readonly LoopSocket _socket;
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(InitialSize);
    private int _start;
    private int _end;
    private bool _needMore = true;  // everything in the buffer was examined: the next read receives
    private bool _ended;
    private bool _completed;
    private volatile bool _cancelRequested;

    public LoopPipeReader(LoopSocket socket) => _socket = socket;

    private ReadOnlySequence<byte> Data => new(_buffer, _start, _end - _start);

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        if (_cancelRequested)
        {
            _cancelRequested = false;
            return new ValueTask<ReadResult>(new ReadResult(Data, isCanceled: true, _ended));
        }

        if (!_needMore || _ended)
        {
            return new ValueTask<ReadResult>(new ReadResult(Data, isCanceled: false, _ended));
        }

        MakeRoom();
        var receive = _socket.ReceiveAsync(_buffer.AsMemory(_end));
        if (receive.IsCompletedSuccessfully)
        {
            // CancelPendingRead from another thread can complete the receive between its start and this check.
            var n = receive.Result;
            if (n == LoopSocket.Canceled)
            {
                _cancelRequested = false;
                return new ValueTask<ReadResult>(new ReadResult(Data, isCanceled: true, _ended));
            }

            return new ValueTask<ReadResult>(Received(n));
        }

        if (_cancelRequested)
        {
            _socket.CancelReceive(); // asked between the check above and the receive's start
        }

        return ReadSlowAsync(receive, cancellationToken);
    }

    public override bool TryRead(out ReadResult result)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        if (_cancelRequested)
        {
            _cancelRequested = false;
            result = new ReadResult(Data, isCanceled: true, _ended);
            return true;
        }

        result = new ReadResult(Data, isCanceled: false, _ended);
        return _end > _start || _ended;
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        var c = Index(consumed);
        _needMore = Index(examined) >= _end;
        _start = c;
        if (_start >= _end)
        {
            _start = _end = 0;
        }
    }

    public override void CancelPendingRead()
    {
        _cancelRequested = true;
        _socket.CancelReceive();
    }

    public override void Complete(Exception? exception = null) => _completed = true;

    /// <summary>Returns the buffer (the socket is closed: nothing receives into it any more).</summary>
    public void Release()
    {
        var buffer = _buffer;
        _buffer = [];
        _start = _end = 0;
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>An abort, a reset or a close as Kestrel's own transport reports it.</summary>
    internal static Exception Translate(Exception ex) => ex switch
    {
        ObjectDisposedException => new ConnectionAbortedException("The connection was aborted.", ex),
        System.Net.Sockets.SocketException s when s.SocketErrorCode is System.Net.Sockets.SocketError.ConnectionReset
            or System.Net.Sockets.SocketError.Shutdown => new ConnectionResetException(s.Message, s),
        System.Net.Sockets.SocketException s => new IOException(s.Message, s),
        _ => ex,
    };

    private int Index(SequencePosition position) =>
        position.GetObject() is null ? _start : position.GetInteger() & int.MaxValue;

    private ReadResult Received(int n)
    {
        if (n == 0)
        {
            _ended = true;
        }
        else
        {
            _end += n;
            _needMore = false;
        }

        return new ReadResult(Data, isCanceled: false, _ended);
    }

    private async ValueTask<ReadResult> ReadSlowAsync(ValueTask<int> receive, CancellationToken cancellationToken)
    {
        using var registration = cancellationToken.CanBeCanceled
            ? cancellationToken.UnsafeRegister(static s => ((LoopSocket)s!).CancelReceive(), _socket)
            : default;
        int n;
        try
        {
            n = await receive;
        }
        catch (Exception ex)
        {
            throw Translate(ex);
        }

        if (n == LoopSocket.Canceled)
        {
            cancellationToken.ThrowIfCancellationRequested();
            _cancelRequested = false;
            return new ReadResult(Data, isCanceled: true, _ended);
        }

        return Received(n);
    }

    /// <summary>Moves unconsumed bytes to the front; doubles the buffer when it is full of them.</summary>
    private void MakeRoom()
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        if (_end == _buffer.Length)
        {
            var bigger = ArrayPool<byte>.Shared.Rent(_buffer.Length * 2);
            Buffer.BlockCopy(_buffer, 0, bigger, 0, _end);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = bigger;
        }
    }
}
