using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Runtime.CompilerServices;
using System.Text;
using Halo.Core.Balancing;
using Halo.Gateway.Configuration;
using Halo.Gateway.Routing;
using Halo.Gateway.Telemetry;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace Halo.Gateway.Proxy.Http1;

/// <summary>
/// One client connection on the fast path: reads request heads, forwards each request (with retries on
/// other destinations) and writes the response, until the client closes, asks to close, times out, or
/// sends something the fast path leaves to Kestrel. All per-request state lives in fields reused for
/// every request on the connection.
/// </summary>
internal sealed partial class Http1ClientConnection
{
    private const int MaxResponseHeadBytes = ResponseHead.MaxHeadBytes;
    private static readonly byte[] Http11 = "HTTP/1.1 "u8.ToArray();

    private readonly Http1FastPath _path;
    private readonly ConnectionContext _connection;
    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private readonly Engine.EventLoop? _loop;   // on the socket engine: backend connections live on the client's loop
    private readonly RequestHead _head = new();
    private readonly ResponseHead _response = new();
    private readonly List<DestinationRuntime> _tried = new(4);
    private readonly char[] _chars = new char[RequestHead.MaxHeadBytes];
    private byte[] _request;        // the head to send (and a buffered body after it)
    private int _requestHeadLength;
    private int _requestLength;
    private byte[]? _linear;        // a head that arrived split across pipe segments
    private long _deadline = long.MaxValue;
    private volatile bool _closeRequested;
    private Random? _random;
    private string? _clientIp;
    private byte[]? _clientAddress;  // the peer's address as forwarded in X-Forwarded-For
    private bool? _peerTrusted;      // a trusted proxy (gateway.trustedProxies), decided once per connection
    private ChunkedScanner _chunked;
    private Memory<byte> _lastPiece;   // where the last body piece was read (client output memory)

    // The request being served.
    private bool _isHead;
    private bool _clientClose;
    private bool _retryable;
    private long _bodyLength;
    private long _bodyRemaining;    // request body bytes still unread from the client
    private bool _bodyBuffered;
    private string? _hashKey;

    public Http1ClientConnection(Http1FastPath path, ConnectionContext connection)
    {
        _path = path;
        _connection = connection;
        _input = connection.Transport.Input;
        _output = connection.Transport.Output;
        _loop = (connection as Engine.LoopConnection)?.Socket.Loop;
        _request = ArrayPool<byte>.Shared.Rent(RequestHead.MaxHeadBytes + 256);
        connection.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested.UnsafeRegister(
            static s => ((Http1ClientConnection)s!).OnCloseRequested(), this);
    }

    private enum Step
    {
        /// <summary>The response went to the client completely.</summary>
        Done,
        /// <summary>Failed before any response byte reached the client: may be retried.</summary>
        FailedBeforeResponse,
        /// <summary>The backend failed while its response was being streamed: the client connection is cut.</summary>
        FailedMidResponse,
        /// <summary>The client went away (or broke its request body): nobody's fault to count.</summary>
        ClientGone,
    }

    /// <summary>Serves requests; returns true when the rest of the connection is to be handed to Kestrel.</summary>
    public async Task<bool> RunAsync()
    {
        try
        {
            while (true)
            {
                var waitingForMore = false;
                _deadline = _path.Time.GetTimestamp() + _path.KeepAliveTicks;
                ReadResult result;
                SequencePosition consumed;
                Route? route;
                while (true)
                {
                    result = await _input.ReadAsync();
                    var buffer = result.Buffer;
                    if (result.IsCanceled && buffer.IsEmpty && _closeRequested)
                    {
                        return false;
                    }

                    if (buffer.IsEmpty)
                    {
                        if (result.IsCompleted)
                        {
                            return false;
                        }

                        _input.AdvanceTo(buffer.Start, buffer.End);
                        continue;
                    }

                    if (!waitingForMore)
                    {
                        // The first bytes of a request: from now on the whole head must arrive in time.
                        waitingForMore = true;
                        _deadline = _path.Time.GetTimestamp() + _path.RequestHeadersTicks;
                    }

                    var span = Linearize(buffer);
                    var status = _head.Parse(span);
                    if (status == HeadStatus.Incomplete)
                    {
                        if (result.IsCompleted)
                        {
                            return false;
                        }

                        _input.AdvanceTo(buffer.Start, buffer.End);
                        continue;
                    }

                    if (status == HeadStatus.HandOff || !TryPrepare(span, out route))
                    {
                        // Nothing consumed: Kestrel reads this request from the start.
                        _input.AdvanceTo(buffer.Start);
                        _deadline = long.MaxValue;
                        return true;
                    }

                    consumed = buffer.GetPosition(_head.Length);
                    break;
                }

                _input.AdvanceTo(consumed);
                _deadline = long.MaxValue;
                var keepAlive = await ServeAsync(route);
                if (!keepAlive || _closeRequested)
                {
                    return false;
                }
            }
        }
        catch (Exception ex) when (IsConnectionFailure(ex))
        {
            if (_path.Logger.IsEnabled(Microsoft.Extensions.Logging.LogLevel.Debug))
            {
#pragma warning disable CA1873 // guarded by IsEnabled just above
                Log.FastPathConnectionEnded(_path.Logger, _connection.ConnectionId, ex.GetType().Name);
#pragma warning restore CA1873
            }

            return false;
        }
        catch (Exception ex)
        {
            Log.FastPathFailed(_path.Logger, _connection.ConnectionId, ex);
            return false;
        }
    }

    /// <summary>Aborts the connection when it has waited on the client for longer than its deadline.</summary>
    public void CheckDeadline(long now)
    {
        if (now > Volatile.Read(ref _deadline))
        {
            _connection.Abort(new ConnectionAbortedException("The client did not send a complete request in time."));
        }
    }

    /// <summary>Returns pooled buffers (the connection is over).</summary>
    public void Release()
    {
        ArrayPool<byte>.Shared.Return(_request);
        _request = [];
        if (_linear is not null)
        {
            ArrayPool<byte>.Shared.Return(_linear);
            _linear = null;
        }
    }

    private void OnCloseRequested()
    {
        _closeRequested = true;
        // Wakes a connection idling between requests; reads inside a request ignore the cancellation.
        _input.CancelPendingRead();
    }

    private static bool IsConnectionFailure(Exception ex) =>
        ex is ConnectionAbortedException or ConnectionResetException or IOException or ObjectDisposedException
            or OperationCanceledException or InvalidOperationException;

    private ReadOnlySpan<byte> Linearize(in ReadOnlySequence<byte> buffer)
    {
        if (buffer.IsSingleSegment || buffer.FirstSpan.Length >= RequestHead.MaxHeadBytes)
        {
            return buffer.FirstSpan;
        }

        var n = (int)Math.Min(buffer.Length, RequestHead.MaxHeadBytes);
        _linear ??= ArrayPool<byte>.Shared.Rent(RequestHead.MaxHeadBytes);
        buffer.Slice(0, n).CopyTo(_linear);
        return _linear.AsSpan(0, n);
    }

    /// <summary>
    /// Routes the parsed head and captures everything the forwarding needs from it (it lives in pipe
    /// memory that is released before the first await). False hands the request to Kestrel.
    /// </summary>
    private bool TryPrepare(ReadOnlySpan<byte> head, out Route? route)
    {
        route = null;
        var target = head.Slice(_head.TargetStart, _head.TargetLength);
        var path = target[.._head.PathLength];
        if (path.Length == _path.OwnPath.Length && Ascii.EqualsIgnoreCase(path, _path.OwnPath))
        {
            return false;
        }

        var table = _path.Tables.Current;
        if (table is not null)
        {
            var host = head.Slice(_head.HostStart, _head.HostLength);
            var chars = _chars.AsSpan();
            Ascii.ToUtf16(host, chars, out var hostChars);
            Ascii.ToUtf16(path, chars[hostChars..], out var pathChars);
            route = table.Match(chars[..hostChars], chars.Slice(hostChars, pathChars));
        }

        // A trusted proxy's forwarded headers are appended to, not replaced: YARP's path does that (ForwardedHeaders.Apply).
        if (_head.ForwardedSeen && (_peerTrusted ??= _path.Forwarded.IsTrusted((_connection.RemoteEndPoint as IPEndPoint)?.Address)))
        {
            return false;
        }

        var method = head[.._head.MethodLength];
        _isHead = method.SequenceEqual("HEAD"u8);
        _clientClose = _head.Close;
        _bodyLength = _head.ContentLength;
        _bodyRemaining = _bodyLength;
        _bodyBuffered = false;
        _hashKey = null;
        if (route is null)
        {
            return true;
        }

        var settings = route.Cluster.Settings;
        if (settings.Https)
        {
            return false; // its backend connections are plain TCP: HTTPS backends take YARP's path
        }

        if (settings.Policy == PolicyKind.ConsistentHash)
        {
            switch (settings.HashOn)
            {
                case HashSource.Cookie:
                    return false; // cookie parsing: YARP's path
                case HashSource.Header:
                    _hashKey = _head.TryGetValue(head, Encoding.ASCII.GetBytes(settings.HashName!), out var v) ? Encoding.ASCII.GetString(v) : null;
                    break;
                default:
                    _hashKey = _clientIp ??= (_connection.RemoteEndPoint as IPEndPoint)?.Address.ToString();
                    break;
            }
        }

        var retry = settings.Retry;
        _retryable = retry.Attempts > 1
            && (RetryRules.IsIdempotentMethod(method) || (retry.IdempotencyHeader is { } h && _head.TryGetValue(head, Encoding.ASCII.GetBytes(h), out _)));
        BuildRequestHead(head);
        return true;
    }

    /// <summary>
    /// Copies the head to send: the request line and every header but the hop-by-hop and forwarded ones, then this
    /// gateway's X-Forwarded-For/Proto/Host (<see cref="ForwardedHeaders"/>).
    /// </summary>
    private void BuildRequestHead(ReadOnlySpan<byte> head)
    {
        _clientAddress ??= System.Text.Encoding.ASCII.GetBytes((_connection.RemoteEndPoint as IPEndPoint)?.Address is { } ip
            ? (ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip).ToString()
            : "unknown");
        var host = head.Slice(_head.HostStart, _head.HostLength);
        var needed = _head.Length + ForwardedHeaders.FastPathOverhead + _clientAddress.Length + host.Length;
        if (needed > _request.Length)
        {
            ArrayPool<byte>.Shared.Return(_request);
            _request = ArrayPool<byte>.Shared.Rent(needed);
        }

        var dest = _request.AsSpan();
        int pos;
        if (!_head.AnySkipped)
        {
            pos = _head.Length - 2; // all but the blank line
            head[..pos].CopyTo(dest);
        }
        else
        {
            var lineEnd = head.IndexOf((byte)'\n') + 1;
            head[..lineEnd].CopyTo(dest);
            pos = lineEnd;
            foreach (ref readonly var h in _head.Headers)
            {
                if (!h.Skip)
                {
                    var line = head[h.LineStart..h.LineEnd];
                    line.CopyTo(dest[pos..]);
                    pos += line.Length;
                }
            }
        }

        pos += ForwardedHeaders.WriteFastPath(dest[pos..], _clientAddress, host);
        "\r\n"u8.CopyTo(dest[pos..]);
        _requestHeadLength = pos + 2;
        _requestLength = _requestHeadLength;
    }

    private static void WriteSimpleResponse(PipeWriter output, int status, bool close)
    {
        output.Write(status switch
        {
            404 => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"u8,
            502 => "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n"u8,
            503 => "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"u8,
            _ => "HTTP/1.1 504 Gateway Timeout\r\nContent-Length: 0\r\n"u8,
        });
        output.Write(close ? "Connection: close\r\n\r\n"u8 : "\r\n"u8);
    }

    /// <summary>Serves one routed (or unroutable) request; false when the connection must close afterwards.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> ServeAsync(Route? route)
    {
        if (route is null)
        {
            // 503 before the first routing table, 404 for a path no route takes (as the YARP path answers).
            if (_bodyLength > 0 && !await DiscardRequestBodyAsync())
            {
                return false;
            }

            WriteSimpleResponse(_output, _path.Tables.Current is null ? 503 : 404, _clientClose);
            var flushed = await _output.FlushAsync();
            return !_clientClose && !flushed.IsCompleted;
        }

        var cluster = route.Cluster;
        var retry = cluster.Settings.Retry;
        var metrics = _path.Metrics;
        var time = _path.Time;
        var started = time.GetTimestamp();
        if (_bodyLength > 0)
        {
            if (_bodyLength <= retry.MaxReplayBodyBytes)
            {
                // Small bodies are read whole first (as nginx buffers them): one send, and a replay on retry.
                if (!await BufferRequestBodyAsync())
                {
                    return false;
                }

                _bodyBuffered = true;
            }
            else
            {
                // Too large to keep for a replay: forwarded once, streamed.
                _retryable = false;
            }
        }

        cluster.Budget.RecordRequest();
        var request = new BalancingRequest(_hashKey, _random ??= _path.RandomFactory.Create());
        _tried.Clear();
        DestinationRuntime? last = null;
        DestinationRuntime? next = null;
        var failure = FailureKind.None;
        var status = 0;
        var keepAlive = !_clientClose;
        for (var n = 0; ; n++)
        {
            var destination = next ?? cluster.Pick(request, n == 0 ? null : _tried);
            next = null;
            if (destination is null)
            {
                // Nothing to try at all: 503. Every destination tried: the last failure's status.
                status = n == 0 ? 503 : failure == FailureKind.Timeout ? 504 : 502;
                keepAlive &= _bodyRemaining == 0;
                WriteSimpleResponse(_output, status, !keepAlive);
                keepAlive &= !(await _output.FlushAsync()).IsCompleted;
                break;
            }

            last = destination;
            var mayRetryStatus = _retryable && n + 1 < retry.Attempts;
            destination.Balancing.Begin();
            var t0 = time.GetTimestamp();
            BackendConnection? connection = null;
            var tryTimeout = RetryRules.TryTimeout(retry, destination);
            Step step;
            try
            {
                (step, failure, connection) = await SendAsync(destination, cluster.Settings.ConnectTimeout, tryTimeout);
                if (step == Step.Done)
                {
                    status = _response.Status;
                    if (mayRetryStatus && retry.OnStatus.Contains(status))
                    {
                        // A retryable status: hold it back if another destination can take the request and
                        // the budget allows; otherwise the client gets this answer as it is.
                        _tried.Add(destination);
                        next = cluster.Pick(request, _tried);
                        if (next is not null && !cluster.Budget.TryAcquireRetry())
                        {
                            RetryRules.BudgetExhausted(cluster, metrics, _path.Logger);
                            next = null;
                        }

                        if (next is not null)
                        {
                            await DiscardResponseAsync(connection!, destination);
                            connection = null;
                            cluster.RecordOutcome(destination, time.GetElapsedTime(t0), FailureKind.ServerError);
                            metrics.Retried(cluster.Name, nameof(FailureKind.ServerError));
                            continue;
                        }

                        _tried.RemoveAt(_tried.Count - 1);
                    }

                    (step, failure, keepAlive) = await ForwardResponseAsync(connection!, destination, tryTimeout, keepAlive);
                    connection = null;
                    if (step == Step.Done && status >= 500)
                    {
                        failure = FailureKind.ServerError;
                    }
                }
            }
            finally
            {
                destination.Balancing.End();
                connection?.Dispose();
            }

            cluster.RecordOutcome(destination, time.GetElapsedTime(t0), failure);
            if (step != Step.FailedBeforeResponse)
            {
                if (step != Step.Done)
                {
                    keepAlive = false;
                    status = step == Step.ClientGone ? 499 : 502;
                }

                break;
            }

            if (!RetryRules.MayRetryFailure(_retryable, n, retry.Attempts, clientGone: false, cluster, metrics, _path.Logger))
            {
                status = failure == FailureKind.Timeout ? 504 : 502;
                keepAlive &= _bodyRemaining == 0;
                WriteSimpleResponse(_output, status, !keepAlive);
                keepAlive &= !(await _output.FlushAsync()).IsCompleted;
                break;
            }

            metrics.Retried(cluster.Name, failure.ToString());
            _tried.Add(destination);
        }

        // 499 (nginx's "client closed request") when the client left: not the gateway's or the backend's error.
        metrics.RequestCompleted(cluster.Name, last?.Name, status, time.GetElapsedTime(started).TotalSeconds);
        return keepAlive;
    }
}
