using Halo.Core;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Halo.Client;
using Halo.Core.Failover;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Halo.Gateway.Tcp;

/// <summary>
/// A TCP proxy for one group and role. It follows the group status (long poll) and routes new connections to the primary
/// of the highest epoch it has seen, once that primary has confirmed its promotion; when the epoch changes it closes every
/// connection it holds to the old primary, so no client keeps writing to a demoted node.
/// </summary>
public sealed class TcpProxyHost : IAsyncDisposable
{
    private readonly TcpProxyOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly TcpListener _listener;
    private readonly GroupClient _client;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<ProxiedConnection, byte> _connections = new();
    private TaskCompletionSource _routeChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TcpRoute _route = TcpRoute.None;
    private Task _accept = Task.CompletedTask;
    private Task _follow = Task.CompletedTask;
    private int _next;

    private TcpProxyHost(TcpProxyOptions options, TimeProvider time, ILogger logger)
    {
        _options = options;
        _time = time;
        _logger = logger;
        _listener = new TcpListener(options.Listen);
        _client = new GroupClient(options.Client ?? new HaloClientOptions
        {
            Servers = [options.Server ?? throw new ArgumentException("Client or Server is required", nameof(options))],
        }, time);
    }

    public IPEndPoint LocalEndpoint => (IPEndPoint)_listener.LocalEndpoint;

    public TcpRoute Route => Volatile.Read(ref _route);

    public int OpenConnections => _connections.Count;

    public static TcpProxyHost Start(TcpProxyOptions options, TimeProvider? time = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Role is not ("primary" or "replica" or "replicas"))
        {
            throw new ArgumentException("role must be primary or replica", nameof(options));
        }

        var host = new TcpProxyHost(options, time ?? TimeProvider.System, logger ?? NullLogger.Instance);
        host._listener.Start(512);
        host._follow = host.FollowAsync(host._stop.Token);
        host._accept = host.AcceptAsync(host._stop.Token);
        return host;
    }

    /// <summary>Applies a status; public so the gateway can feed it from its own subscription.</summary>
    public void Apply(GroupStatus status)
    {
        ArgumentNullException.ThrowIfNull(status);
        var current = Route;
        if (status.Epoch < current.Epoch)
        {
            return; // never route backwards to an older epoch, whatever a lagging server says
        }

        // Read traffic goes only to replicas that are healthy and close enough to the primary to serve what clients just wrote.
        var maxLag = _options.MaxLagBytes ?? status.Policy.MaxLagBytes;
        var replicas = status.Members.Where(m => m.Role == MemberRole.Replica && m.Fresh && m.DbUp && m.Healthy && m.Name != status.Primary && (m.Lag ?? long.MaxValue) <= maxLag)
            .Select(m => m.Address).ToList();
        var next = new TcpRoute(status.Epoch, status.PrimaryAddress, status.PrimaryConfirmed, replicas);
        if (next.Epoch == current.Epoch && next.Primary == current.Primary && next.Confirmed == current.Confirmed && next.Replicas.SequenceEqual(current.Replicas))
        {
            return;
        }

        Volatile.Write(ref _route, next);
        TcpProxyLog.RouteChanged(_logger, _options.Group, _options.Role, next.Epoch, next.Primary, next.Confirmed);
        if (_options.Role == "primary" && (next.Epoch > current.Epoch || !next.Confirmed))
        {
            var closed = 0;
            foreach (var c in _connections.Keys.Where(c => c.Epoch < next.Epoch || (!next.Confirmed && c.Epoch == next.Epoch)))
            {
                c.Close();
                closed++;
            }

            if (closed > 0)
            {
                TcpProxyLog.ClosedOld(_logger, _options.Group, closed, current.Epoch);
            }
        }

        Interlocked.Exchange(ref _routeChanged, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    private async Task FollowAsync(CancellationToken ct)
    {
        long version = 0;
        var failing = false;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var status = await _client.GetAsync(_options.Group, version, TimeSpan.FromSeconds(10), ct).ConfigureAwait(false);
                version = status.Version;
                failing = false;
                Apply(status);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex) when (ex is HttpRequestException or HaloApiException or OperationCanceledException or System.Text.Json.JsonException)
            {
                // Keep routing to the last primary seen: the server being away is not a reason to cut clients off.
                if (!failing)
                {
                    failing = true;
                    TcpProxyLog.FeedFailed(_logger, _options.Group, ex.Message);
                }

                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(200), _time, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
    }

    private async Task AcceptAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                break;
            }

            _ = Task.Run(() => ServeAsync(socket, ct), CancellationToken.None);
        }
    }

    private async Task ServeAsync(Socket downstream, CancellationToken ct)
    {
        downstream.NoDelay = true;
        var (epoch, target) = await WaitForTargetAsync(ct).ConfigureAwait(false);
        if (target is null || ParseEndPoint(target) is not { } endpoint)
        {
            downstream.Dispose();
            return;
        }

        var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using var connect = new Deadline(_options.ConnectTimeout, _time, ct);
            await upstream.ConnectAsync(endpoint, connect.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            upstream.Dispose();
            downstream.Dispose();
            return;
        }

        var connection = new ProxiedConnection(epoch, downstream, upstream);
        _connections[connection] = 0;
        // A route change between choosing the target and registering must not leave this connection behind.
        if (_options.Role == "primary" && Route.Epoch > epoch)
        {
            connection.Close();
        }

        try
        {
            await connection.PumpAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            _connections.TryRemove(connection, out _);
            connection.Close();
        }
    }

    private async Task<(long Epoch, string? Target)> WaitForTargetAsync(CancellationToken ct)
    {
        var deadline = _time.GetTimestamp() + (long)(_options.WaitForRoute.TotalSeconds * _time.TimestampFrequency);
        while (true)
        {
            var changed = Volatile.Read(ref _routeChanged).Task;
            var route = Route;
            if (_options.Role == "primary" && route is { Confirmed: true, Primary: { } primary })
            {
                return (route.Epoch, primary);
            }

            if (_options.ReadsFromReplicas && route.Replicas.Count > 0)
            {
                return (route.Epoch, route.Replicas[(int)((uint)Interlocked.Increment(ref _next) % route.Replicas.Count)]);
            }

            var remaining = TimeSpan.FromSeconds((double)(deadline - _time.GetTimestamp()) / _time.TimestampFrequency);
            if (remaining <= TimeSpan.Zero)
            {
                return (route.Epoch, null);
            }

            try
            {
                await changed.WaitAsync(remaining, _time, ct).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
            }
        }
    }

    private static IPEndPoint? ParseEndPoint(string address)
    {
        if (!Halo.Core.Networking.HostPort.TryParse(address, out var endpoint))
        {
            return null;
        }

        var (host, port) = endpoint;
        return IPAddress.TryParse(host, out var ip) ? new IPEndPoint(ip, port)
            : Dns.GetHostAddresses(host).FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) is { } resolved ? new IPEndPoint(resolved, port) : null;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        foreach (var c in _connections.Keys)
        {
            c.Close();
        }

        await Task.WhenAll(_accept, _follow).ConfigureAwait(false);
        _client.Dispose();
        _stop.Dispose();
    }
}
