using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Halo.Gateway.Proxy.Engine;
using Halo.Gateway.Proxy.Http1;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;

namespace Halo.Gateway.Tests;

/// <summary>
/// The gateway's own socket engine (Linux): the transport Kestrel runs on and the backend sockets of the fast path. Each
/// case the edge-triggered, short-read-means-drained rule could get wrong: data arriving after a short read, a read
/// cancelled or aborted while it waits, a send larger than the socket buffer, a refused connect, a close from a timer.
/// </summary>
public sealed class SocketEngineTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("epoll")]
    [InlineData("dotnet")]
    [InlineData("EPOLL")]
    public void EngineVariable_KnownValue_Accepted(string? value) => EventLoopGroup.Validate(value);

    [Theory]
    [InlineData("epol")]
    [InlineData("io_uring")]
    [InlineData("1")]
    public void EngineVariable_UnknownValue_NamesVariableAndChoices(string value)
    {
        var ex = Assert.Throws<Halo.Gateway.Configuration.GatewayConfigException>(() => EventLoopGroup.Validate(value));
        Assert.Equal(EventLoopGroup.Variable, ex.Field);
        Assert.Contains($"'{value}'", ex.Message);
        Assert.Contains("epoll", ex.Message);
        Assert.Contains("dotnet", ex.Message);
    }

    [Fact]
    public async Task Read_AfterShortRead_WaitsThenGetsLaterBytes()
    {
        if (!EventLoopGroup.IsSupported)
        {
            return;
        }

        await using var pair = await Pair.OpenAsync();
        await pair.Peer.SendAsync("ab"u8.ToArray());
        Assert.Equal("ab", await ReadTextAsync(pair.Server.Transport.Input, 2));

        // The short read marked the socket drained: this read waits for epoll, and the bytes sent later complete it.
        var pending = pair.Server.Transport.Input.ReadAsync().AsTask();
        await Task.Delay(50);
        Assert.False(pending.IsCompleted);
        await pair.Peer.SendAsync("cd"u8.ToArray());
        var result = await pending.WaitAsync(Bound);
        Assert.Equal("cd", System.Text.Encoding.ASCII.GetString(result.Buffer.ToArray()));
    }

    [Fact]
    public async Task Read_DataAndFinBeforeTheFirstRead_SeesTheEnd()
    {
        if (!EventLoopGroup.IsSupported)
        {
            return;
        }

        // The loop sees one edge for both; the short read that takes the data must not count as drained.
        await using var pair = await Pair.OpenAsync();
        await pair.Peer.SendAsync("ab"u8.ToArray());
        pair.Peer.Shutdown(SocketShutdown.Send);
        await Task.Delay(50);
        Assert.Equal("ab", await ReadTextAsync(pair.Server.Transport.Input, 2));
        var result = await pair.Server.Transport.Input.ReadAsync().AsTask().WaitAsync(Bound);
        Assert.True(result.IsCompleted);
    }

    [Fact]
    public async Task PeerClose_WhileNobodyReads_CancelsConnectionClosed()
    {
        if (!EventLoopGroup.IsSupported)
        {
            return;
        }

        // Kestrel's socket transport does this, and turns it into RequestAborted for a request waiting on a slow backend.
        await using var pair = await Pair.OpenAsync();
        var closed = new TaskCompletionSource();
        using var registration = pair.Server.ConnectionClosed.Register(() => closed.TrySetResult());
        pair.Peer.Shutdown(SocketShutdown.Send);
        await closed.Task.WaitAsync(Bound);
    }

    [Fact]
    public async Task BackendConnect_ByName_TriesEveryAddress()
    {
        if (!EventLoopGroup.IsSupported)
        {
            return;
        }

        // 'localhost' may resolve to ::1 first; a backend listening on 127.0.0.1 only must still be reached.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        var port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        using var backend = await BackendConnection.ConnectAsync(new DnsEndPoint("localhost", port), Bound, TimeProvider.System, EventLoopGroup.Next())
            .AsTask().WaitAsync(Bound);
        using var accepted = await listener.AcceptAsync().WaitAsync(Bound);
        Assert.NotNull(accepted);
    }

    [Fact]
    public async Task CancelPendingRead_WakesAWaitingRead()
    {
        if (!EventLoopGroup.IsSupported)
        {
            return;
        }

        await using var pair = await Pair.OpenAsync();
        var input = pair.Server.Transport.Input;
        var pending = input.ReadAsync().AsTask();
        await Task.Delay(50);
        input.CancelPendingRead();
        var result = await pending.WaitAsync(Bound);
        Assert.True(result.IsCanceled);

        // Not a lasting state: the next read gets data again.
        await pair.Peer.SendAsync("x"u8.ToArray());
        Assert.Equal("x", await ReadTextAsync(input, 1));
    }

    [Fact]
    public async Task Abort_FailsAWaitingReadAsKestrelsTransportDoes()
    {
        if (!EventLoopGroup.IsSupported)
        {
            return;
        }

        await using var pair = await Pair.OpenAsync();
        var pending = pair.Server.Transport.Input.ReadAsync().AsTask();
        pair.Server.Abort(new ConnectionAbortedException("test"));
        await Assert.ThrowsAsync<ConnectionAbortedException>(() => pending.WaitAsync(Bound));
    }

    [Fact]
    public async Task PeerClose_CompletesTheInput()
    {
        if (!EventLoopGroup.IsSupported)
        {
            return;
        }

        await using var pair = await Pair.OpenAsync();
        var pending = pair.Server.Transport.Input.ReadAsync().AsTask();
        pair.Peer.Shutdown(SocketShutdown.Send);
        var result = await pending.WaitAsync(Bound);
        Assert.True(result.IsCompleted);
        Assert.True(result.Buffer.IsEmpty);
    }

    [Fact]
    public async Task Flush_LargerThanTheSocketBuffer_CompletesWhenThePeerReads()
    {
        if (!EventLoopGroup.IsSupported)
        {
            return;
        }

        await using var pair = await Pair.OpenAsync();
        var size = 8 * 1024 * 1024;
        var output = pair.Server.Transport.Output;
        var data = InProcessBackend.Pattern(size);
        output.Write(data);
        var flushing = output.FlushAsync().AsTask();
        var received = new byte[size];
        var n = 0;
        while (n < size)
        {
            var r = await pair.Peer.ReceiveAsync(received.AsMemory(n), SocketFlags.None).AsTask().WaitAsync(Bound);
            Assert.True(r > 0);
            n += r;
        }

        var flushed = await flushing.WaitAsync(Bound);
        Assert.False(flushed.IsCompleted);
        Assert.Equal(data, received);
    }

    [Fact]
    public async Task Flush_AfterThePeerReset_ReportsCompletion()
    {
        if (!EventLoopGroup.IsSupported)
        {
            return;
        }

        await using var pair = await Pair.OpenAsync();
        pair.Peer.LingerState = new LingerOption(true, 0);
        pair.Peer.Dispose(); // RST
        var output = pair.Server.Transport.Output;
        FlushResult flushed = default;
        for (var i = 0; i < 50 && !flushed.IsCompleted; i++)
        {
            output.Write(new byte[64 * 1024]);
            flushed = await output.FlushAsync().AsTask().WaitAsync(Bound);
            await Task.Delay(10);
        }

        Assert.True(flushed.IsCompleted);
    }

    [Fact]
    public async Task BackendConnect_Refused_Throws()
    {
        if (!EventLoopGroup.IsSupported)
        {
            return;
        }

        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var closedPort = (IPEndPoint)probe.LocalEndPoint!; // bound, not listening: refuses
        await Assert.ThrowsAsync<SocketException>(async () =>
            await BackendConnection.ConnectAsync(closedPort, Bound, TimeProvider.System, EventLoopGroup.Next()).AsTask().WaitAsync(Bound));
    }

    [Fact]
    public async Task BackendReceive_TimerClosesTheSocket_FailsAsTimedOut()
    {
        if (!EventLoopGroup.IsSupported)
        {
            return;
        }

        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        using var backend = await BackendConnection.ConnectAsync(listener.LocalEndPoint!, Bound, TimeProvider.System, EventLoopGroup.Next());
        using var accepted = await listener.AcceptAsync();
        backend.Arm(TimeSpan.FromMilliseconds(100));
        await Assert.ThrowsAnyAsync<ObjectDisposedException>(async () => await backend.ReceiveAsync().AsTask().WaitAsync(Bound));
        Assert.True(backend.TimedOut);
    }

    [Fact]
    public async Task Gateway_EngineAskedFor_ListensOnIt()
    {
        await using var gw = await InProcessGateway.StartAsync("""
            routes: [{cluster: c}]
            clusters:
              c:
                destinations: [{url: 'http://127.0.0.1:1', name: a}]
            """);
        var transport = gw.Services.GetServices<IConnectionListenerFactory>().Last();
        Assert.Equal(EventLoopGroup.IsEnabled, transport is LoopTransportFactory);
        Assert.Equal(EventLoopGroup.IsSupported, EventLoopGroup.IsEnabled); // the module initializer asked for it
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Request_BodyCutShortByHalfClose_ConnectionEnds(bool fastPath)
    {
        // GatewayFuzzTests' CutShort case: a body shorter than its Content-Length, then the client's FIN.
        await using var a = await InProcessBackend.StartAsync("a");
        await using var gw = await InProcessGateway.StartAsync($$"""
            routes: [{cluster: c}]
            clusters:
              c:
                destinations: [{url: 'http://127.0.0.1:{{a.Port}}', name: a}]
            """, fastPath: fastPath);
        await using var c = await RawHttpConnection.OpenAsync(gw.EndPoint);
        await c.SendAsync("PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab");
        c.ShutdownSend();
        Assert.True(await c.EndedByServerAsync(TimeSpan.FromSeconds(5)));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Request_LargeBodyTheBackendDoesNotRead_GetsTheBackendsAnswer(bool fastPath)
    {
        // GatewayFuzzTests, seed 1VCrqlVPiFq1: a 1 MiB body to a route the backend answers 405 without reading it.
        await using var a = await InProcessBackend.StartAsync("a");
        await using var gw = await InProcessGateway.StartAsync($$"""
            routes: [{cluster: c}]
            clusters:
              c:
                destinations: [{url: 'http://127.0.0.1:{{a.Port}}', name: a}]
            """, fastPath: fastPath);
        await using var c = await RawHttpConnection.OpenAsync(gw.EndPoint);
        await c.SendAsync("OPTIONS / HTTP/1.1\r\nHost: x\r\n\r\n");
        await c.ReadResponseAsync();
        var body = new byte[1 << 20];
        var sending = c.SendAsync(System.Text.Encoding.ASCII.GetBytes($"DELETE /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {body.Length}\r\n\r\n").Concat(body).ToArray());
        var r = await c.ReadResponseAsync();
        Assert.Equal(405, r.Status);
        await sending.WaitAsync(Bound);
    }

    private static async Task<string> ReadTextAsync(PipeReader input, int count)
    {
        while (true)
        {
            var result = await input.ReadAsync().AsTask().WaitAsync(Bound);
            if (result.Buffer.Length >= count || result.IsCompleted)
            {
                var text = System.Text.Encoding.ASCII.GetString(result.Buffer.ToArray());
                input.AdvanceTo(result.Buffer.End);
                return text;
            }

            input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    /// <summary>A connection accepted by the engine's listener and the .NET socket at the other end.</summary>
    private sealed class Pair : IAsyncDisposable
    {
        private readonly IConnectionListener _listener;

        private Pair(IConnectionListener listener, ConnectionContext server, Socket peer)
        {
            _listener = listener;
            Server = server;
            Peer = peer;
        }

        public ConnectionContext Server { get; }

        public Socket Peer { get; }

        public static async Task<Pair> OpenAsync()
        {
            var listener = await new LoopTransportFactory().BindAsync(new IPEndPoint(IPAddress.Loopback, 0));
            var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await peer.ConnectAsync(listener.EndPoint).WaitAsync(Bound);
            var server = await listener.AcceptAsync().AsTask().WaitAsync(Bound);
            Assert.IsType<LoopConnection>(server);
            return new Pair(listener, server!, peer);
        }

        public async ValueTask DisposeAsync()
        {
            Peer.Dispose();
            await Server.DisposeAsync();
            await _listener.DisposeAsync();
        }
    }
}
