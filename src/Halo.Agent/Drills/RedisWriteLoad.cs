using System.Collections.Concurrent;
using System.Globalization;
using Halo.Agent.Drivers;

namespace Halo.Agent.Drills;

/// <summary>
/// A steady stream of numbered writes through one address (a TCP proxy or a Sentinel-resolved primary), counting what was
/// attempted, acknowledged and failed, and afterwards which acknowledged writes are missing. Used by drills, tests and the bench.
/// With <c>waitReplicas</c> &gt; 0 a write counts as acknowledged only after WAIT confirms that many replicas have it.
/// </summary>
public sealed class RedisWriteLoad(
    Func<CancellationToken, Task<(string Host, int Port)>> resolve, int waitReplicas = 0, string prefix = "halo:drill:", TimeProvider? time = null) : IWriteLoad
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly ConcurrentDictionary<long, byte> _acked = new();
    private readonly WriteHistory _history = new(time ?? TimeProvider.System);
    private long _attempted;
    private long _failed;
    private long _lastFailureTicks;

    public long Attempted => Interlocked.Read(ref _attempted);
    public long Acked => _acked.Count;
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Timestamp (<see cref="TimeProvider.GetTimestamp"/> of the load's clock) of the last failed write.</summary>
    public long LastFailure => Interlocked.Read(ref _lastFailureTicks);

    /// <summary>Time from the failure (a timestamp of the load's clock) to the first acknowledged write after it; see <see cref="WriteHistory.RecoveryAfter"/>.</summary>
    public TimeSpan? RecoveryAfter(long failedAt) => _history.RecoveryAfter(failedAt);

    public async Task RunAsync(CancellationToken ct)
    {
        RespConnection? connection = null;
        long n = 0;
        while (!ct.IsCancellationRequested)
        {
            var started = _time.GetTimestamp();

            var id = ++n;
            Interlocked.Increment(ref _attempted);
            var ok = false;
            try
            {
                if (connection is null)
                {
                    var (host, port) = await resolve(ct).ConfigureAwait(false);
                    connection = await RespConnection.ConnectAsync(host, port, TimeSpan.FromMilliseconds(500), _time, ct).ConfigureAwait(false);
                }

                var reply = await connection.ExecuteAsync(TimeSpan.FromSeconds(1), ct, "SET", prefix + id.ToString(CultureInfo.InvariantCulture), "1").ConfigureAwait(false);
                ok = reply is "OK";
                if (ok && waitReplicas > 0)
                {
                    ok = await connection.ExecuteAsync(TimeSpan.FromSeconds(1), ct, "WAIT", waitReplicas.ToString(CultureInfo.InvariantCulture), "500").ConfigureAwait(false) is long acks && acks >= waitReplicas;
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or OperationCanceledException or InvalidOperationException)
            {
                if (connection is not null)
                {
                    await connection.DisposeAsync().ConfigureAwait(false);
                    connection = null;
                }
            }

            _history.Add(started, _time.GetTimestamp(), ok);

            if (ok)
            {
                _acked[id] = 0;
            }
            else
            {
                Interlocked.Increment(ref _failed);
                Interlocked.Exchange(ref _lastFailureTicks, _time.GetTimestamp());
                if (connection is null)
                {
                    try
                    {
                        await Task.Delay(TimeSpan.FromMilliseconds(5), _time, ct).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                }
            }
        }

        if (connection is not null)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Reads every acknowledged key back (from the current primary) and returns how many are missing.</summary>
    public async Task<long> CountLostAsync(CancellationToken ct) => (await LostAsync(ct).ConfigureAwait(false)).Count;

    /// <summary>The ids of acknowledged writes that are missing now.</summary>
    public async Task<IReadOnlyList<long>> LostAsync(CancellationToken ct)
    {
        var (host, port) = await resolve(ct).ConfigureAwait(false);
        await using var connection = await RespConnection.ConnectAsync(host, port, TimeSpan.FromSeconds(2), _time, ct).ConfigureAwait(false);
        var lost = new List<long>();
        foreach (var chunk in _acked.Keys.Order().Chunk(500))
        {
            var reply = await connection.ExecuteAsync(TimeSpan.FromSeconds(5), ct, ["MGET", .. chunk.Select(id => prefix + id.ToString(CultureInfo.InvariantCulture))]).ConfigureAwait(false);
            lost.AddRange(reply is object?[] values ? chunk.Where((_, i) => values[i] is null) : chunk);
        }

        return lost;
    }
}
