using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace Halo.Gateway.Proxy.Engine;

/// <summary>
/// An accepted client connection as Kestrel sees it: its transport reads and writes the <see cref="LoopSocket"/> directly
/// (<see cref="LoopPipeReader"/>, <see cref="LoopPipeWriter"/>), so the fast path and, for what it hands on, Kestrel
/// itself work on the socket without a pipe or a receive loop between.
/// </summary>
internal sealed class LoopConnection : ConnectionContext, IDuplexPipe, IConnectionIdFeature, IConnectionItemsFeature,
    IConnectionTransportFeature, IConnectionEndPointFeature, IConnectionLifetimeFeature
{
    private static long _lastId;

    private readonly LoopPipeReader _input;
    private readonly LoopPipeWriter _output;
    private readonly CancellationTokenSource _closed = new();
    private EndPoint? _localEndPoint;
    private int _ended;

    public LoopConnection(LoopSocket socket, EndPoint? remoteEndPoint)
    {
        Socket = socket;
        _input = new LoopPipeReader(socket);
        _output = new LoopPipeWriter(socket);
        Transport = this;
        RemoteEndPoint = remoteEndPoint;
        ConnectionId = "L" + Interlocked.Increment(ref _lastId).ToString("X");
        Features = new FeatureCollection();
        Features.Set<IConnectionIdFeature>(this);
        Features.Set<IConnectionItemsFeature>(this);
        Features.Set<IConnectionTransportFeature>(this);
        Features.Set<IConnectionEndPointFeature>(this);
        Features.Set<IConnectionLifetimeFeature>(this);
        // A client's FIN or RST cancels ConnectionClosed (so RequestAborted) at once, as with Kestrel's socket transport.
        socket.PeerClosedState = this;
        socket.PeerClosed = static s => ((LoopConnection)s!).SignalClosed();
    }

    public LoopSocket Socket { get; }

    public PipeReader Input => _input;

    public PipeWriter Output => _output;

    public override string ConnectionId { get; set; }

    public override IFeatureCollection Features { get; }

    public override IDictionary<object, object?> Items { get; set; } = new ConnectionItems();

    public override IDuplexPipe Transport { get; set; }

    public override EndPoint? LocalEndPoint
    {
        get => _localEndPoint ??= Socket.LocalEndPoint();
        set => _localEndPoint = value;
    }

    public override EndPoint? RemoteEndPoint { get; set; }

    public override CancellationToken ConnectionClosed
    {
        get => _closed.Token;
        set => throw new NotSupportedException();
    }

    public override void Abort(ConnectionAbortedException abortReason)
    {
        // Pending reads and flushes fail at once; the reader reports the abort as Kestrel's transport does.
        Socket.Dispose();
        SignalClosed();
    }

    public override ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _ended, 1) == 0)
        {
            Socket.Shutdown();
            Socket.Dispose();
            _input.Release();
            _output.Release();
            SignalClosed();
        }

        return base.DisposeAsync();
    }

    private void SignalClosed()
    {
        // Kestrel's callbacks on this token (request aborts) run on the thread pool, not on the event loop.
        ThreadPool.UnsafeQueueUserWorkItem(static c =>
        {
            try
            {
                c.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }, _closed, preferLocal: false);
    }
}
