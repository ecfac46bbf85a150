using System.Buffers;
using System.IO.Pipelines;

namespace Halo.Gateway.Proxy.Engine;

/// <summary>
/// A client connection's output: writes gather in one pooled buffer and a flush sends them with one call (the response
/// head and body go out together), waiting for epoll only when the socket is full.
/// </summary>
internal sealed class LoopPipeWriter : PipeWriter
{
    private const int InitialSize = 8 * 1024;

    private readonly LoopSocket _socket;
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(InitialSize);
    private int _written;
    private bool _gone;      // a send failed: the client is gone, flushes report completion
    private bool _completed;

    public LoopPipeWriter(LoopSocket socket) => _socket = socket;

    public override bool CanGetUnflushedBytes => true;

    public override long UnflushedBytes => _written;

    public override Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsMemory(_written);
    }

    public override Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsSpan(_written);
    }

    public override void Advance(int bytes) => _written += bytes;

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        if (_written == 0 || _gone)
        {
            _written = 0;
            return new ValueTask<FlushResult>(new FlushResult(isCanceled: false, isCompleted: _gone));
        }

        var send = _socket.SendAsync(_buffer.AsMemory(0, _written));
        if (send.IsCompletedSuccessfully)
        {
            // A CancelPendingFlush from another thread can complete the send between its start and this check: the
            // unsent tail is lost, so the output is done for (as after a failed send), never counted as sent.
            var canceled = send.Result == LoopSocket.Canceled;
            _written = 0;
            _gone |= canceled;
            return new ValueTask<FlushResult>(new FlushResult(isCanceled: canceled, isCompleted: false));
        }

        return FlushSlowAsync(send, cancellationToken);
    }

    public override void CancelPendingFlush() => _socket.CancelSend();

    public override void Complete(Exception? exception = null) => _completed = true;

    /// <summary>Returns the buffer (the socket is closed: nothing sends from it any more).</summary>
    public void Release()
    {
        var buffer = _buffer;
        _buffer = [];
        _written = 0;
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async ValueTask<FlushResult> FlushSlowAsync(ValueTask<int> send, CancellationToken cancellationToken)
    {
        using var registration = cancellationToken.CanBeCanceled
            ? cancellationToken.UnsafeRegister(static s => ((LoopSocket)s!).CancelSend(), _socket)
            : default;
        try
        {
            var n = await send;
            _written = 0;
            _gone |= n == LoopSocket.Canceled; // the unsent tail is lost: nothing more may follow it on this connection
            cancellationToken.ThrowIfCancellationRequested();
            return new FlushResult(isCanceled: n == LoopSocket.Canceled, isCompleted: false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // As with Kestrel's transport: a failed send completes the output; the writer learns it from the flush.
            _written = 0;
            _gone = true;
            return new FlushResult(isCanceled: false, isCompleted: true);
        }
    }

    private void Ensure(int sizeHint)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        var free = _buffer.Length - _written;
        if (free > 0 && free >= sizeHint)
        {
            return;
        }

        var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, _written + Math.Max(sizeHint, 4096)));
        Buffer.BlockCopy(_buffer, 0, bigger, 0, _written);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = bigger;
    }
}
