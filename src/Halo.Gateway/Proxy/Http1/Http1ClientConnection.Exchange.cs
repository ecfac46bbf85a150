using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Halo.Core.Balancing;
using Halo.Gateway.Routing;

namespace Halo.Gateway.Proxy.Http1;

/// <summary>The backend side of one attempt, and the request and response bodies.</summary>
internal sealed partial class Http1ClientConnection
{
    /// <summary>
    /// Sends the request to <paramref name="destination"/> and reads the response head (skipping interim
    /// 1xx answers). A pooled connection that turns out closed before answering is replaced by a fresh
    /// one once, not charged to the destination (HttpClient does the same).
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<(Step, FailureKind, BackendConnection?)> SendAsync(DestinationRuntime destination, TimeSpan connectTimeout, TimeSpan timeout)
    {
        var replayable = _bodyRemaining == 0 || _bodyBuffered;
        for (var fresh = false; ; fresh = true)
        {
            var connection = fresh ? null : destination.Connections.TryRent(_loop?.Index ?? 0);
            var reused = connection is not null;
            if (connection is null)
            {
                try
                {
                    connection = await BackendConnection.ConnectAsync(destination.Connections.EndPoint, connectTimeout, _path.Time, _loop);
                }
                catch (Exception ex) when (!IsBug(ex))
                {
                    return (Step.FailedBeforeResponse, FailureKind.Connect, null);
                }
            }

            var answered = false;
            try
            {
                connection.Arm(timeout);
                if (_bodyRemaining > 0 && !_bodyBuffered)
                {
                    await connection.SendAsync(_request.AsMemory(0, _requestHeadLength));
                    if (!await StreamRequestBodyAsync(connection, timeout))
                    {
                        connection.Dispose();
                        return (Step.ClientGone, FailureKind.None, null);
                    }
                }
                else
                {
                    await connection.SendAsync(_request.AsMemory(0, _requestLength));
                }

                connection.Start = connection.End = 0;
                while (true)
                {
                    if (connection.End > connection.Start)
                    {
                        if (_response.TryParse(connection.Buffer.AsSpan(connection.Start, connection.End - connection.Start), _isHead, out var incomplete))
                        {
                            if (_response.Status is >= 100 and < 200 and not 101)
                            {
                                // Interim answer (103 Early Hints, a stray 100): dropped, as HttpClient does.
                                connection.Start += _response.Length;
                                continue;
                            }

                            if (_response.Status == 101)
                            {
                                throw new BadResponseException(); // no upgrade was asked for
                            }

                            connection.Disarm();
                            return (Step.Done, FailureKind.None, connection);
                        }

                        if (!incomplete || !connection.MakeRoom(ResponseHead.MaxHeadBytes))
                        {
                            throw new BadResponseException();
                        }
                    }
                    else
                    {
                        connection.Start = connection.End = 0;
                    }

                    connection.Arm(timeout);
                    var n = await connection.ReceiveAsync();
                    if (n == 0)
                    {
                        throw new BadResponseException();
                    }

                    answered = true;
                    connection.End += n;
                }
            }
            catch (Exception ex) when (!IsBug(ex))
            {
                var timedOut = connection.TimedOut;
                connection.Dispose();
                if (reused && !answered && !timedOut && replayable)
                {
                    continue;
                }

                return (Step.FailedBeforeResponse, timedOut ? FailureKind.Timeout : FailureKind.Connect, null);
            }
        }
    }

    /// <summary>Writes the held response head and streams its body to the client; returns the connection to the pool when reusable.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<(Step, FailureKind, bool)> ForwardResponseAsync(BackendConnection connection, DestinationRuntime destination, TimeSpan timeout, bool keepAlive)
    {
        var close = !keepAlive || _response.Framing == BodyFraming.UntilClose || _closeRequested || _bodyRemaining > 0;
        WriteResponseHead(connection.Buffer.AsSpan(connection.Start, _response.Length), close);
        connection.Start += _response.Length;
        var reusable = !_response.Close;
        try
        {
            var inBuffer = connection.Buffer.AsSpan(connection.Start, connection.End - connection.Start);
            switch (_response.Framing)
            {
                case BodyFraming.Length:
                {
                    var remaining = _response.ContentLength;
                    var take = (int)Math.Min(remaining, inBuffer.Length);
                    _output.Write(inBuffer[..take]);
                    connection.Start += take;
                    remaining -= take;
                    while (remaining > 0)
                    {
                        var n = await NextBodyPieceAsync(connection, timeout, remaining);
                        if (n <= 0)
                        {
                            return n < 0 ? ClientGone(connection) : throw new BadResponseException();
                        }

                        _output.Advance(n);
                        remaining -= n;
                    }

                    break;
                }

                case BodyFraming.Chunked:
                {
                    _chunked.Reset();
                    var k = _chunked.Scan(inBuffer);
                    if (k < 0)
                    {
                        throw new BadResponseException();
                    }

                    _output.Write(inBuffer[..k]);
                    connection.Start += k;
                    while (!_chunked.IsDone)
                    {
                        var n = await NextBodyPieceAsync(connection, timeout, int.MaxValue);
                        if (n <= 0)
                        {
                            return n < 0 ? ClientGone(connection) : throw new BadResponseException();
                        }

                        k = _chunked.Scan(_lastPiece.Span[..n]);
                        if (k < 0)
                        {
                            throw new BadResponseException();
                        }

                        // Bytes after the end of the message: the backend broke framing; not reused.
                        reusable &= k == n;
                        _output.Advance(k);
                    }

                    break;
                }

                case BodyFraming.UntilClose:
                {
                    _output.Write(inBuffer);
                    connection.Start = connection.End;
                    reusable = false;
                    int n;
                    while ((n = await NextBodyPieceAsync(connection, timeout, int.MaxValue)) > 0)
                    {
                        _output.Advance(n);
                    }

                    if (n < 0)
                    {
                        return ClientGone(connection);
                    }

                    break;
                }
            }
        }
        catch (Exception ex) when (!IsBug(ex))
        {
            // The client already has part of the response: it can only be cut.
            var timedOut = connection.TimedOut;
            connection.Dispose();
            return (Step.FailedMidResponse, timedOut ? FailureKind.Timeout : FailureKind.Connect, false);
        }

        connection.Disarm();
        if (reusable && connection.Start == connection.End)
        {
            connection.Uses++;
            connection.Start = connection.End = 0;
            destination.Connections.Return(connection, _path.Time.GetTimestamp());
        }
        else
        {
            connection.Dispose();
        }

        if (!await FlushAsync())
        {
            return (Step.ClientGone, FailureKind.None, false);
        }

        return (Step.Done, FailureKind.None, !close);
    }

    private static (Step, FailureKind, bool) ClientGone(BackendConnection connection)
    {
        connection.Dispose();
        return (Step.ClientGone, FailureKind.None, false);
    }

    /// <summary>
    /// Flushes what is written so far, then reads the next piece of a response body (at most
    /// <paramref name="limit"/> bytes) straight into the client's output buffer: the bytes read, 0 when the
    /// backend closed, -1 when the client is gone.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> NextBodyPieceAsync(BackendConnection connection, TimeSpan timeout, long limit)
    {
        if (!await FlushAsync())
        {
            return -1;
        }

        var memory = _output.GetMemory(4096);
        _lastPiece = memory.Length > limit ? memory[..(int)limit] : memory;
        connection.Arm(timeout);
        return await connection.ReceiveAsync(_lastPiece);
    }

    /// <summary>Drops a held-back response; the connection is kept only when the whole response is already here.</summary>
    private ValueTask DiscardResponseAsync(BackendConnection connection, DestinationRuntime destination)
    {
        connection.Start += _response.Length;
        var available = connection.End - connection.Start;
        var complete = _response.Framing switch
        {
            BodyFraming.None => available == 0,
            BodyFraming.Length => available == _response.ContentLength,
            BodyFraming.Chunked => ScanWhole(connection.Buffer.AsSpan(connection.Start, available)),
            _ => false,
        };
        if (complete && !_response.Close)
        {
            connection.Start = connection.End = 0;
            connection.Uses++;
            destination.Connections.Return(connection, _path.Time.GetTimestamp());
        }
        else
        {
            connection.Dispose();
        }

        return default;

        bool ScanWhole(ReadOnlySpan<byte> data)
        {
            _chunked.Reset();
            return _chunked.Scan(data) == data.Length && _chunked.IsDone;
        }
    }

    private void WriteResponseHead(ReadOnlySpan<byte> head, bool close)
    {
        _output.Write(Http11);
        _output.Write(head[_response.StatusLineRest.._response.StatusLineEnd]);
        if (!_response.AnySkipped)
        {
            _output.Write(head[_response.StatusLineEnd..(_response.Length - 2)]);
        }
        else
        {
            foreach (ref readonly var h in _response.Headers)
            {
                if (!h.Skip)
                {
                    _output.Write(head[h.LineStart..h.LineEnd]);
                }
            }
        }

        _output.Write(close ? "Connection: close\r\n\r\n"u8 : "\r\n"u8);
    }

    /// <summary>Flushes to the client; false when the client is gone. A client that stops reading is cut after the header timeout.</summary>
    private ValueTask<bool> FlushAsync()
    {
        var flush = _output.FlushAsync();
        if (flush.IsCompletedSuccessfully)
        {
            return new ValueTask<bool>(!flush.Result.IsCompleted);
        }

        return AwaitFlushAsync(flush);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> AwaitFlushAsync(ValueTask<FlushResult> flush)
    {
        _deadline = _path.Time.GetTimestamp() + _path.RequestHeadersTicks;
        try
        {
            return !(await flush).IsCompleted;
        }
        finally
        {
            _deadline = long.MaxValue;
        }
    }

    /// <summary>Reads a whole Content-Length body into the send buffer after the head.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> BufferRequestBodyAsync()
    {
        var needed = _requestHeadLength + (int)_bodyLength;
        if (_request.Length < needed)
        {
            var bigger = ArrayPool<byte>.Shared.Rent(needed);
            _request.AsSpan(0, _requestHeadLength).CopyTo(bigger);
            ArrayPool<byte>.Shared.Return(_request);
            _request = bigger;
        }

        try
        {
            while (_bodyRemaining > 0)
            {
                _deadline = _path.Time.GetTimestamp() + _path.RequestHeadersTicks;
                var result = await _input.ReadAsync();
                var buffer = result.Buffer;
                var take = Math.Min(_bodyRemaining, buffer.Length);
                var slice = buffer.Slice(0, take);
                slice.CopyTo(_request.AsSpan(_requestLength));
                _requestLength += (int)take;
                _bodyRemaining -= take;
                _input.AdvanceTo(slice.End);
                if (_bodyRemaining > 0 && result.IsCompleted)
                {
                    return false;
                }
            }
        }
        finally
        {
            _deadline = long.MaxValue;
        }

        return true;
    }

    /// <summary>Streams a large request body to the backend as it arrives; false when the client went away.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> StreamRequestBodyAsync(BackendConnection connection, TimeSpan timeout)
    {
        while (_bodyRemaining > 0)
        {
            ReadResult result;
            _deadline = _path.Time.GetTimestamp() + _path.RequestHeadersTicks;
            try
            {
                result = await _input.ReadAsync();
            }
            catch (Exception ex) when (!IsBug(ex))
            {
                return false;
            }
            finally
            {
                _deadline = long.MaxValue;
            }

            var buffer = result.Buffer;
            var slice = buffer.Slice(0, Math.Min(_bodyRemaining, buffer.Length));
            foreach (var segment in slice)
            {
                connection.Arm(timeout);
                await connection.SendAsync(segment);
            }

            _bodyRemaining -= slice.Length;
            _input.AdvanceTo(slice.End);
            if (_bodyRemaining > 0 && result.IsCompleted)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Reads and drops a request body that will not be forwarded (404/503), when small; false closes instead.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> DiscardRequestBodyAsync()
    {
        if (_bodyRemaining > 64 * 1024)
        {
            return false;
        }

        while (_bodyRemaining > 0)
        {
            var result = await _input.ReadAsync();
            var slice = result.Buffer.Slice(0, Math.Min(_bodyRemaining, result.Buffer.Length));
            _bodyRemaining -= slice.Length;
            _input.AdvanceTo(slice.End);
            if (_bodyRemaining > 0 && result.IsCompleted)
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsBug(Exception ex) => ex is NullReferenceException or ArgumentException or IndexOutOfRangeException or InvalidCastException;

    /// <summary>A backend answer that is not a valid HTTP/1.1 response (or ends early): the destination's failure.</summary>
    private sealed class BadResponseException : Exception
    {
    }
}
