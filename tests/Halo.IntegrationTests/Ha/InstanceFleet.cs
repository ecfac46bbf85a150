using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;

namespace Halo.IntegrationTests.Ha;

/// <summary>
/// Many instances that register and heartbeat every second through a list of servers, as a client taking several servers
/// does: each instance starts on server (i mod N) and, when a call fails to connect or answers 5xx, moves to the next server
/// and tries again at once. Heartbeats are spread over the second so the load is even. Records every failed call.
/// </summary>
public sealed class InstanceFleet : IAsyncDisposable
{
    private readonly IReadOnlyList<Uri> _servers;
    private readonly List<(string Service, string Id, int Port)> _instances = [];
    private readonly int[] _serverOf;
    private readonly HttpClient _http;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _loops = [];

    public InstanceFleet(IReadOnlyList<Uri> servers, IEnumerable<(string Service, string Id, int Port)> instances, string? token = null)
    {
        _servers = servers;
        _instances.AddRange(instances);
        _serverOf = Enumerable.Range(0, _instances.Count).Select(i => i % servers.Count).ToArray();
        _http = new HttpClient(new SocketsHttpHandler { UseProxy = false, MaxConnectionsPerServer = 64, ConnectTimeout = TimeSpan.FromSeconds(1) })
        {
            Timeout = Timeout.InfiniteTimeSpan, // each call has its own bound (CallAsync)
        };
        _http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token ?? HaloProcess.Token);
    }

    /// <summary>How long one heartbeat waits for a server before it moves to the next.</summary>
    private static readonly TimeSpan HeartbeatBound = TimeSpan.FromSeconds(3);

    /// <summary>How long one start-up registration waits for a server: longer than the server's own 5 s store budget.</summary>
    private static readonly TimeSpan RegisterBound = TimeSpan.FromSeconds(10);

    /// <summary>Calls that failed on one server (and moved to the next), with the reason.</summary>
    public ConcurrentQueue<string> Failovers { get; } = new();

    /// <summary>Heartbeats that no server accepted.</summary>
    public int Lost;

    public int Sent;

    /// <summary>Registers every instance (bounded), then heartbeats each every <paramref name="interval"/> until disposed.</summary>
    public async Task StartAsync(TimeSpan interval)
    {
        await Parallel.ForEachAsync(Enumerable.Range(0, _instances.Count), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
        {
            var (service, id, port) = _instances[i];
            // A registration is an etcd transaction that the server itself waits up to 5 s for; under stress-ng the fleet's first
            // ones (cold servers, 16 at a time) took over 3 s on every server (ServerKillTests, load 48-53). The start-up is not
            // what these tests measure: its calls get longer than the server's own budget.
            if (!await CallAsync(i, RegisterBound, (s, bound) => _http.PutAsJsonAsync(new Uri(s, $"v1/services/{service}/instances/{id}"),
                new { address = "127.0.0.1", port, ttl = $"{(int)interval.TotalMilliseconds}ms" }, bound)))
            {
                throw new InvalidOperationException($"could not register {service}/{id} on any server:\n{string.Join('\n', Failovers)}");
            }
        });

        for (var i = 0; i < _instances.Count; i++)
        {
            var index = i;
            var offset = interval * i / _instances.Count;
            _loops.Add(Task.Run(() => HeartbeatLoopAsync(index, interval, offset, _stop.Token)));
        }
    }

    private async Task HeartbeatLoopAsync(int i, TimeSpan interval, TimeSpan offset, CancellationToken ct)
    {
        var (service, id, _) = _instances[i];
        try
        {
            await Task.Delay(offset, ct);
            var clock = Stopwatch.StartNew();
            for (var n = 1; !ct.IsCancellationRequested; n++)
            {
                Interlocked.Increment(ref Sent);
                if (!await CallAsync(i, HeartbeatBound, (s, bound) => _http.PostAsync(new Uri(s, $"v1/services/{service}/instances/{id}/heartbeat"), null, bound)))
                {
                    Interlocked.Increment(ref Lost);
                }

                var next = interval * n - clock.Elapsed;
                if (next > TimeSpan.Zero)
                {
                    await Task.Delay(next, ct);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    /// <summary>One call through the instance's current server, moving on to the next on a connection failure or 5xx; false when every server failed.</summary>
    private async Task<bool> CallAsync(int i, TimeSpan timeout, Func<Uri, CancellationToken, Task<HttpResponseMessage>> call)
    {
        for (var attempt = 0; attempt < _servers.Count; attempt++)
        {
            var s = Volatile.Read(ref _serverOf[i]);
            try
            {
                using var bound = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                bound.CancelAfter(timeout);
                using var response = await call(_servers[s], bound.Token);
                if ((int)response.StatusCode < 500)
                {
                    return response.IsSuccessStatusCode;
                }

                Failovers.Enqueue($"{_instances[i].Id} via {_servers[s]}: {(int)response.StatusCode}");
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !_stop.IsCancellationRequested)
            {
                Failovers.Enqueue($"{_instances[i].Id} via {_servers[s]}: {ex.Message}");
            }

            Interlocked.CompareExchange(ref _serverOf[i], (s + 1) % _servers.Count, s);
        }

        return false;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_loops).WaitAsync(TimeSpan.FromSeconds(10));
        _http.Dispose();
        _stop.Dispose();
    }
}
