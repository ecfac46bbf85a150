using System.Runtime.CompilerServices;
using Halo.Store.Embedded;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Halo.Store;

/// <summary>
/// The single-node store: SQLite in WAL mode with synchronous=FULL under one group-committing writer,
/// so an acknowledged write survives kill -9 while concurrent writers share each fsync.
/// Reads run on their own pooled connections and never wait for the writer.
/// </summary>
public sealed class EmbeddedStore : IStore
{
    private readonly StoreWriter _writer;
    private readonly StoreReader _reader;
    private readonly ChangeFeed _feed;
    private readonly FileStream _lock;
    private int _disposed;

    private EmbeddedStore(StoreWriter writer, StoreReader reader, ChangeFeed feed, FileStream directoryLock)
    {
        _writer = writer;
        _reader = reader;
        _feed = feed;
        _lock = directoryLock;
    }

    /// <summary>
    /// Opens (creating when absent) the store in <paramref name="directory"/>. One process at a time:
    /// a second open of the same directory fails with <see cref="StoreUnavailableException"/>.
    /// Leases found on disk restart their full TTL from now, as etcd's do after a leader change.
    /// </summary>
    public static Task<EmbeddedStore> OpenAsync(
        string directory,
        EmbeddedStoreOptions options,
        TimeProvider timeProvider,
        ILogger? logger = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        options.Validate();
        cancellationToken.ThrowIfCancellationRequested();
        Directory.CreateDirectory(directory);
        FileStream directoryLock;
        try
        {
            // The writer keeps revisions and leases in memory, so two writers on one file would corrupt them.
            directoryLock = new FileStream(Path.Combine(directory, "halo-store.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException error)
        {
            throw new StoreUnavailableException($"the store in {directory} is already open in another process", error);
        }

        var path = Path.Combine(directory, StoreSchema.FileName);
        try
        {
            var connection = StoreSchema.OpenWriter(path);
            var feed = new ChangeFeed(options.WatchBufferSize);
            var writer = new StoreWriter(new KvStatements(connection), feed, timeProvider, options, logger ?? NullLogger.Instance);
            return Task.FromResult(new EmbeddedStore(writer, new StoreReader(StoreSchema.ReaderConnectionString(path)), feed, directoryLock));
        }
        catch (Microsoft.Data.Sqlite.SqliteException error)
        {
            // A damaged or foreign file: say which and what to do, instead of a stack trace.
            directoryLock.Dispose();
            throw new StoreUnavailableException(
                $"{path} is not a readable Halo store (SQLite: {error.Message.TrimEnd('.')}); move it aside to start empty, or restore a snapshot into a new data directory",
                error);
        }
        catch
        {
            directoryLock.Dispose();
            throw;
        }
    }

    public Task<GetResult> GetAsync(string key, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        ThrowIfDisposed();
        return Task.FromResult(_reader.Get(key));
    }

    public Task<RangeResult> ListAsync(string prefix, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        ThrowIfDisposed();
        return Task.FromResult(_reader.List(prefix));
    }

    public Task<long> PutAsync(string key, ReadOnlyMemory<byte> value, long leaseId = 0, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        return Write(w => w.Put(key, value, leaseId), cancellationToken);
    }

    public Task<DeleteResult> DeleteAsync(string key, bool prefix = false, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (!prefix)
        {
            ArgumentException.ThrowIfNullOrEmpty(key);
        }

        return Write(w => w.Delete(key, prefix), cancellationToken);
    }

    public Task<TxnResult> TxnAsync(TxnRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Write(w => w.Txn(request), cancellationToken);
    }

    public Task<Lease> GrantLeaseAsync(TimeSpan ttl, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(ttl, TimeSpan.FromSeconds(1));
        // Whole seconds, rounded up, as etcd grants them.
        var seconds = (long)Math.Ceiling(ttl.TotalSeconds);
        return Write(w => w.Grant(seconds), cancellationToken);
    }

    public Task<bool> KeepAliveAsync(long leaseId, CancellationToken cancellationToken = default) =>
        Write(w => w.KeepAlive(leaseId), cancellationToken);

    /// <summary>Revokes a lease and deletes its keys in one revision. Revoking an unknown lease does nothing.</summary>
    public Task RevokeLeaseAsync(long leaseId, CancellationToken cancellationToken = default) =>
        Write(w => w.Revoke(leaseId), cancellationToken);

    /// <summary>
    /// Drops change history before <paramref name="revision"/>, as etcd's Compact: watches after revision - 1 or later
    /// still work, older ones throw <see cref="RevisionCompactedException"/>. Returns the newest dropped revision.
    /// </summary>
    public Task<long> CompactAsync(long revision, CancellationToken cancellationToken = default) =>
        Write(w => w.Compact(revision), cancellationToken);

    public Task<long> GetRevisionAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return Task.FromResult(_writer.CommittedRevision);
    }

    public async IAsyncEnumerable<WatchEvent> WatchAsync(
        string prefix,
        long afterRevision,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentOutOfRangeException.ThrowIfNegative(afterRevision);
        ThrowIfDisposed();
        // Subscribe before reading the log: every change is then either in the log read or in the buffer
        // (often both), and the (revision, sequence) position drops the overlap. No gap, no duplicate.
        using var subscription = _feed.Subscribe(prefix);
        var (lastRevision, lastSequence) = (afterRevision, int.MaxValue);
        while (true)
        {
            List<ChangeRecord> page;
            do
            {
                cancellationToken.ThrowIfCancellationRequested();
                page = _reader.ReadChanges(prefix, lastRevision, lastSequence);
                foreach (var change in page)
                {
                    (lastRevision, lastSequence) = (change.Revision, change.Sequence);
                    yield return change.Event;
                }
            }
            while (page.Count == StoreReader.ChangePageSize);

            while (true)
            {
                while (subscription.Reader.TryRead(out var change))
                {
                    if (change.IsAfter(lastRevision, lastSequence))
                    {
                        (lastRevision, lastSequence) = (change.Revision, change.Sequence);
                        yield return change.Event;
                    }
                }

                if (subscription.Overflowed)
                {
                    subscription.ResetOverflow();
                    break; // fell behind: catch up from the log, then come back to the buffer
                }

                await subscription.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false);
                if (subscription.Reader.Completion.IsCompleted)
                {
                    await subscription.Reader.Completion.ConfigureAwait(false);
                    throw new ObjectDisposedException(nameof(EmbeddedStore));
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _writer.DisposeAsync();
        _feed.Complete(new ObjectDisposedException(nameof(EmbeddedStore)));
        _reader.Dispose();
        await _lock.DisposeAsync();
    }

    private async Task<T> Write<T>(Func<StoreWriter, T> operation, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        // Once queued the write may commit; cancelling only stops waiting for its answer, as with etcd.
        return await _writer.Enqueue(operation).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
}
