using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Halo.Store.Embedded;

/// <summary>
/// The single writer: a loop that drains every pending mutation into one SQLite transaction (group commit),
/// commits it with one fsync, publishes the changes to live watches and only then completes the callers' tasks.
/// All mutable state below is touched by the loop alone.
/// </summary>
internal sealed partial class StoreWriter : IAsyncDisposable
{
    private readonly Channel<WriteCommand> _queue = Channel.CreateUnbounded<WriteCommand>(new UnboundedChannelOptions { SingleReader = true });
    private readonly KvStatements _sql;
    private readonly ChangeFeed _feed;
    private readonly TimeProvider _time;
    private readonly EmbeddedStoreOptions _options;
    private readonly ILogger _logger;
    private readonly Dictionary<long, LeaseState> _leases = [];
    private readonly List<ChangeRecord> _pending = [];
    private readonly ITimer _expiryTimer;
    private readonly Task _loop;
    private long _revision;
    private long _compactRevision;
    private long _lastLeaseId;
    private bool _revisionOpen;
    private int _sequence;
    private long _committedRevision;
    private int _expiryQueued;

    public StoreWriter(KvStatements sql, ChangeFeed feed, TimeProvider time, EmbeddedStoreOptions options, ILogger logger)
    {
        _sql = sql;
        _feed = feed;
        _time = time;
        _options = options;
        _logger = logger;
        Reload();
        _committedRevision = _revision;
        Log.Opened(_logger, _revision, _compactRevision, _leases.Count);
        _loop = Task.Run(RunAsync);
        _expiryTimer = time.CreateTimer(_ => QueueExpiry(), null, options.LeaseCheckInterval, options.LeaseCheckInterval);
    }

    /// <summary>The newest durable revision.</summary>
    public long CommittedRevision => Volatile.Read(ref _committedRevision);

    public Task<T> Enqueue<T>(Func<StoreWriter, T> operation)
    {
        var command = new WriteCommand<T>(operation);
        ObjectDisposedException.ThrowIf(!_queue.Writer.TryWrite(command), typeof(EmbeddedStore));

        return command.Task;
    }

    public async ValueTask DisposeAsync()
    {
        await _expiryTimer.DisposeAsync();
        // Writes already queued still commit: their callers are waiting for an answer.
        _queue.Writer.TryComplete();
        await _loop;
        _sql.Dispose();
    }

    private void QueueExpiry()
    {
        // At most one expiry pass waits in the queue, however often the timer fires.
        if (Interlocked.Exchange(ref _expiryQueued, 1) == 0 && !_queue.Writer.TryWrite(new WriteCommand<int>(w => w.ExpireLeases())))
        {
            Volatile.Write(ref _expiryQueued, 0);
        }
    }

    private async Task RunAsync()
    {
        var batch = new List<WriteCommand>(Math.Min(_options.MaxBatchSize, 4096));
        var reader = _queue.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            Drain(reader, batch);
            if (batch.Count > 1 && batch.Count < _options.MaxBatchSize)
            {
                // More than one write was waiting: callers are writing concurrently, and the thread pool likely holds
                // requests about to write too. Let those queued before this loop run first, then take what they added,
                // so one commit and one fsync cover them: a commit's fixed cost (transaction, meta row, shared B-tree pages
                // in the WAL, fsync) is split over more writes (at 32 concurrent registrations: 12 writes and ~22 WAL
                // pages per commit before). One yield, never a timer: a lone write commits at once, and nothing here
                // waits for a write that is not already on its way.
                await Task.Yield();
                Drain(reader, batch);
            }

            try
            {
                ExecuteBatch(batch);
            }
            catch (Exception error)
            {
                // The loop must outlive any bug in one batch: a dead writer would hang every later write forever.
                Log.BatchFailed(_logger, batch.Count, error);
                var unavailable = new StoreUnavailableException("the embedded store failed a batch: " + error.Message, error);
                batch.ForEach(command => command.Fail(unavailable));
            }

            batch.Clear();
        }
    }

    private void Drain(ChannelReader<WriteCommand> reader, List<WriteCommand> batch)
    {
        while (batch.Count < _options.MaxBatchSize && reader.TryRead(out var command))
        {
            batch.Add(command);
        }
    }

    private void ExecuteBatch(List<WriteCommand> batch)
    {
        var startRevision = _revision;
        try
        {
            using (var transaction = _sql.Connection.BeginTransaction())
            {
                _sql.Transaction = transaction;
                foreach (var command in batch)
                {
                    command.Apply(this);
                    _revisionOpen = false;
                }

                if (_revision != startRevision)
                {
                    _sql.SetMeta("revision", _revision);
                    CompactIfDue();
                }

                transaction.Commit();
            }
        }
        catch (Exception error)
        {
            // SQLite reported the batch as not committed, so nobody may be told it succeeded: every caller gets
            // "unavailable" (outcome unknown, as after a lost etcd reply) and the in-memory state is rebuilt from disk.
            Log.BatchFailed(_logger, batch.Count, error);
            _pending.Clear();
            _revisionOpen = false;
            TryReload();
            var unavailable = new StoreUnavailableException("the embedded store could not commit: " + error.Message, error);
            foreach (var command in batch)
            {
                command.Fail(unavailable);
            }

            return;
        }
        finally
        {
            _sql.Transaction = null;
        }

        Volatile.Write(ref _committedRevision, _revision);
        if (_pending.Count > 0)
        {
            // Publish before completing: a caller that watches right after its write must find it live or in the log.
            _feed.Publish(_pending);
            _pending.Clear();
        }

        foreach (var command in batch)
        {
            command.Complete();
        }
    }

    private void TryReload()
    {
        try
        {
            Reload();
        }
        catch (Exception error)
        {
            Log.ReloadFailed(_logger, error);
        }
    }

    /// <summary>Loads revision counters and leases from disk. Leases restart their full TTL, as etcd does after a leader change.</summary>
    private void Reload()
    {
        var connection = _sql.Connection;
        _revision = StoreSchema.ReadMeta(connection, "revision");
        _compactRevision = StoreSchema.ReadMeta(connection, "compact_revision");
        _lastLeaseId = StoreSchema.ReadMeta(connection, "last_lease_id");
        var now = _time.GetUtcNow();
        var loaded = new Dictionary<long, LeaseState>();
        using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT id, ttl_seconds FROM leases";
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                var id = reader.GetInt64(0);
                var ttl = TimeSpan.FromSeconds(reader.GetInt64(1));
                loaded[id] = _leases.TryGetValue(id, out var known) ? known : new LeaseState(ttl, now + ttl);
            }
        }

        _leases.Clear();
        foreach (var (id, state) in loaded)
        {
            _leases[id] = state;
        }
    }

    private void CompactIfDue()
    {
        // Compact in steps rather than on every commit, so the delete amortises over many batches.
        var step = Math.Clamp(_options.HistoryRetention / 10, 1, 10_000);
        if (_revision - _compactRevision >= _options.HistoryRetention + step)
        {
            CompactTo(_revision - _options.HistoryRetention);
        }
    }

    private sealed record LeaseState(TimeSpan Ttl, DateTimeOffset Deadline);

    private static partial class Log
    {
        [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Embedded store opened at revision {Revision} (compacted to {CompactRevision}), {Leases} leases restored with a fresh TTL")]
        public static partial void Opened(ILogger logger, long revision, long compactRevision, int leases);

        [LoggerMessage(EventId = 1002, Level = LogLevel.Error, Message = "Embedded store could not commit a batch of {Count} writes; all were failed")]
        public static partial void BatchFailed(ILogger logger, int count, Exception error);

        [LoggerMessage(EventId = 1003, Level = LogLevel.Error, Message = "Embedded store could not reload its state after a failed commit")]
        public static partial void ReloadFailed(ILogger logger, Exception error);

        [LoggerMessage(EventId = 1004, Level = LogLevel.Information, Message = "Lease {LeaseId} expired; {Keys} keys deleted at revision {Revision}")]
        public static partial void LeaseExpired(ILogger logger, long leaseId, int keys, long revision);
    }
}
