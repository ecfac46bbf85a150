using System.Collections.Concurrent;

namespace Halo.Agent.Drills;

/// <summary>
/// The closed loop every write load shares: numbered writes one at a time over one connection, opened again after a write that threw, a short pause after any failed write,
/// each outcome counted and kept in a <see cref="WriteHistory"/>, and afterwards the acknowledged ids read back to find the
/// missing ones. A subclass says only how to connect, how to write id N, which exceptions are failed writes, and which ids are
/// present now.
/// </summary>
public abstract class WriteLoad<TConnection> : IWriteLoad
    where TConnection : class, IAsyncDisposable
{
    private static readonly TimeSpan RetryPause = TimeSpan.FromMilliseconds(5);
    private const int FailedWritesKept = 200;
    private readonly ConcurrentQueue<FailedWrite> _failedWrites = new();
    private readonly ConcurrentDictionary<long, byte> _acked = new();
    private readonly ConcurrentDictionary<string, long> _failures = new(StringComparer.Ordinal);
    private readonly WriteHistory _history;
    private long _attempted;
    private long _failed;
    private long _lastFailureTicks;

    protected WriteLoad(TimeProvider? time)
    {
        Time = time ?? TimeProvider.System;
        _history = new WriteHistory(Time);
    }

    protected TimeProvider Time { get; }

    /// <summary>
    /// The least time from the start of one acknowledged write to the start of the next (default zero: a closed loop as fast as the
    /// path allows). A bench sets it so that two systems are compared at the same write rate.
    /// </summary>
    public TimeSpan Interval { get; init; }

    public long Attempted => Interlocked.Read(ref _attempted);

    public long Acked => _acked.Count;

    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>
    /// Failed writes by why: <see cref="RefusalReason"/> when the system answered and said no, else the exception's type (a timeout
    /// is an <see cref="OperationCanceledException"/>, a dropped or refused connection an IOException or SocketException).
    /// </summary>
    public IReadOnlyDictionary<string, long> Failures => new Dictionary<string, long>(_failures, StringComparer.Ordinal);

    /// <summary>Why the last write that answered was not acknowledged (the system's own words where it gave any).</summary>
    protected virtual string RefusalReason => "refused";

    /// <summary>The whole answer behind <see cref="RefusalReason"/> (an error's full text), for <see cref="FailedWrites"/>.</summary>
    protected virtual string RefusalDetail => RefusalReason;

    /// <summary>
    /// The first 200 failed writes, each with when it started (the load's clock, UTC), how long it took and why in full: a test that
    /// expects none can say which one failed, when, and with what answer.
    /// </summary>
    public IReadOnlyList<FailedWrite> FailedWrites => [.. _failedWrites];

    /// <summary>Timestamp (<see cref="TimeProvider.GetTimestamp"/> of the load's clock) of the last failed write.</summary>
    public long LastFailure => Interlocked.Read(ref _lastFailureTicks);

    /// <summary>Time from the failure (a timestamp of the load's clock) to the first acknowledged write after it; see <see cref="WriteHistory.RecoveryAfter"/>.</summary>
    public TimeSpan? RecoveryAfter(long failedAt) => _history.RecoveryAfter(failedAt);

    /// <summary>
    /// Waits (at most <paramref name="limit"/>, polling on the load's clock) until <see cref="RecoveryAfter"/> has an answer for
    /// <paramref name="failedAt"/>; null when none came in time.
    /// </summary>
    public async Task<TimeSpan?> WaitRecoveryAsync(long failedAt, TimeSpan limit, CancellationToken ct)
    {
        var waitingSince = Time.GetTimestamp();
        while (true)
        {
            if (RecoveryAfter(failedAt) is { } recovered)
            {
                return recovered;
            }

            if (Time.GetElapsedTime(waitingSince) >= limit)
            {
                return null;
            }

            await Task.Delay(RetryPause, Time, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Opens a connection to where writes go now.</summary>
    protected abstract Task<TConnection> ConnectAsync(CancellationToken ct);

    /// <summary>Writes id <paramref name="id"/>; true when the system acknowledged it (as the load defines acknowledged).</summary>
    protected abstract Task<bool> WriteAsync(TConnection connection, long id, CancellationToken ct);

    /// <summary>True for the exceptions that mean "this write failed" (the connection is then dropped and opened again).</summary>
    protected abstract bool IsWriteFailure(Exception ex);

    /// <summary>Which of <paramref name="acked"/> (ascending) are absent from the current primary.</summary>
    protected abstract Task<IReadOnlyList<long>> MissingAsync(IReadOnlyList<long> acked, CancellationToken ct);

    public async Task RunAsync(CancellationToken ct)
    {
        TConnection? connection = null;
        long n = 0;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var started = Time.GetTimestamp();
                var startedAt = Time.GetUtcNow();
                var id = ++n;
                Interlocked.Increment(ref _attempted);
                var ok = false;
                string? why = null;
                string? detail = null;
                try
                {
                    connection ??= await ConnectAsync(ct).ConfigureAwait(false);
                    ok = await WriteAsync(connection, id, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception ex) when (IsWriteFailure(ex))
                {
                    why = ex.GetType().Name;
                    detail = $"{why}: {ex.Message}";
                    // The connection may be half-dead or pointing at a fenced primary: the next write opens a new one.
                    if (connection is not null)
                    {
                        await connection.DisposeAsync().ConfigureAwait(false);
                        connection = null;
                    }
                }

                _history.Add(started, Time.GetTimestamp(), ok);
                if (ok)
                {
                    _acked[id] = 0;
                    var idle = Interval - Time.GetElapsedTime(started);
                    if (idle > TimeSpan.Zero)
                    {
                        try
                        {
                            await Task.Delay(idle, Time, ct).ConfigureAwait(false);
                        }
                        catch (OperationCanceledException)
                        {
                            break;
                        }
                    }

                    continue;
                }

                Interlocked.Increment(ref _failed);
                if (_failedWrites.Count < FailedWritesKept)
                {
                    _failedWrites.Enqueue(new FailedWrite(id, startedAt, Time.GetElapsedTime(started), detail ?? RefusalDetail));
                }

                _failures.AddOrUpdate(why ?? RefusalReason, 1, (_, count) => count + 1);
                Interlocked.Exchange(ref _lastFailureTicks, Time.GetTimestamp());
                try
                {
                    await Task.Delay(RetryPause, Time, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
        finally
        {
            if (connection is not null)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Reads every acknowledged write back (from the current primary) and returns how many are missing.</summary>
    public async Task<long> CountLostAsync(CancellationToken ct) => (await LostAsync(ct).ConfigureAwait(false)).Count;

    /// <summary>The ids of acknowledged writes that are missing now.</summary>
    public Task<IReadOnlyList<long>> LostAsync(CancellationToken ct) => MissingAsync(_acked.Keys.Order().ToList(), ct);
}

/// <summary>One write of a <see cref="WriteLoad{TConnection}"/> that was not acknowledged: its id, when it started, how long it took, why.</summary>
public sealed record FailedWrite(long Id, DateTimeOffset StartedAt, TimeSpan Took, string Why);
