namespace Halo.Store;

/// <summary>
/// The coordination contract every Halo store satisfies: the embedded SQLite store and etcd.
/// Semantics follow etcd v3 so that etcd implements it without callers changing:
/// one global revision that every mutation increments (a transaction increments it once),
/// per-key create/mod revisions and versions, leases that delete their keys when they expire,
/// and watches that replay every change after a given revision.
/// </summary>
public interface IStore : IAsyncDisposable
{
    /// <summary>The key, or null. The returned revision is the store revision the read observed.</summary>
    Task<GetResult> GetAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>All keys starting with <paramref name="prefix"/>, ordered by key. Empty prefix lists everything.</summary>
    Task<RangeResult> ListAsync(string prefix, CancellationToken cancellationToken = default);

    /// <summary>Creates or replaces a key. Returns the new store revision once the write is durable.</summary>
    Task<long> PutAsync(string key, ReadOnlyMemory<byte> value, long leaseId = 0, CancellationToken cancellationToken = default);

    /// <summary>Deletes a key (or, when <paramref name="prefix"/> is true, every key under it). Returns the number deleted and the revision.</summary>
    Task<DeleteResult> DeleteAsync(string key, bool prefix = false, CancellationToken cancellationToken = default);

    /// <summary>
    /// Atomic compare-then-act, as etcd's Txn: when every compare holds, the success operations run,
    /// otherwise the failure operations; either way in one revision. The basis of leader records and fencing.
    /// </summary>
    Task<TxnResult> TxnAsync(TxnRequest request, CancellationToken cancellationToken = default);

    /// <summary>Grants a lease of the given TTL (whole seconds, at least 1, as etcd). Keys attached to it are deleted when it expires.</summary>
    Task<Lease> GrantLeaseAsync(TimeSpan ttl, CancellationToken cancellationToken = default);

    /// <summary>Renews a lease to its full TTL. Returns false when the lease is unknown or already expired.</summary>
    Task<bool> KeepAliveAsync(long leaseId, CancellationToken cancellationToken = default);

    /// <summary>Revokes a lease and deletes the keys attached to it.</summary>
    Task RevokeLeaseAsync(long leaseId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Every change under <paramref name="prefix"/> with revision &gt; <paramref name="afterRevision"/>, in order,
    /// then live changes until cancelled. Throws <see cref="RevisionCompactedException"/> when history
    /// that old is gone; the caller then re-lists and watches from the list's revision.
    /// </summary>
    IAsyncEnumerable<WatchEvent> WatchAsync(string prefix, long afterRevision, CancellationToken cancellationToken = default);

    /// <summary>The current store revision.</summary>
    Task<long> GetRevisionAsync(CancellationToken cancellationToken = default);
}

/// <summary>A key's value with its etcd-style metadata.</summary>
public sealed record KeyValue(string Key, ReadOnlyMemory<byte> Value, long CreateRevision, long ModRevision, long Version, long LeaseId);

public sealed record GetResult(KeyValue? Item, long Revision);

public sealed record RangeResult(IReadOnlyList<KeyValue> Items, long Revision);

public sealed record DeleteResult(long Deleted, long Revision);

public sealed record Lease(long Id, TimeSpan Ttl);

public enum WatchEventType
{
    Put,
    Delete,
}

/// <summary>One change. For deletes, <see cref="KeyValue.Value"/> is empty and ModRevision is the deletion's revision.</summary>
public sealed record WatchEvent(WatchEventType Type, KeyValue Item);

/// <summary>What a compare looks at, as etcd's Compare.target.</summary>
public enum CompareTarget
{
    /// <summary>The key's ModRevision; 0 means "the key does not exist".</summary>
    ModRevision,
    /// <summary>The key's CreateRevision; 0 means "the key does not exist".</summary>
    CreateRevision,
    /// <summary>The key's Version; 0 means "the key does not exist".</summary>
    Version,
    /// <summary>The key's value, compared byte for byte.</summary>
    Value,
}

public enum CompareOp
{
    Equal,
    NotEqual,
    Less,
    Greater,
}

public sealed record Compare(string Key, CompareTarget Target, CompareOp Op, long Number = 0, ReadOnlyMemory<byte> Value = default)
{
    public static Compare ModRevisionIs(string key, long revision) => new(key, CompareTarget.ModRevision, CompareOp.Equal, revision);
    public static Compare Missing(string key) => new(key, CompareTarget.CreateRevision, CompareOp.Equal, 0);
}

public enum TxnOpType
{
    Put,
    Delete,
    Get,
}

public sealed record TxnOp(TxnOpType Type, string Key, ReadOnlyMemory<byte> Value = default, long LeaseId = 0)
{
    /// <summary>
    /// True for a put of a key that no other write ever makes (an event key with a per-process writer id): its presence,
    /// with this value, proves the transaction was applied. A store may then repeat the transaction after a lost answer
    /// and answer as the first attempt did (<see cref="EtcdStore"/> does); see <see cref="PutUnique"/>.
    /// </summary>
    public bool Unique { get; init; }

    public static TxnOp Put(string key, ReadOnlyMemory<byte> value, long leaseId = 0) => new(TxnOpType.Put, key, value, leaseId);

    /// <summary>A put of a key only this one transaction ever writes (see <see cref="Unique"/>); never attached to a lease.</summary>
    public static TxnOp PutUnique(string key, ReadOnlyMemory<byte> value) => new(TxnOpType.Put, key, value) { Unique = true };
    public static TxnOp Delete(string key) => new(TxnOpType.Delete, key);
    public static TxnOp Get(string key) => new(TxnOpType.Get, key);
}

public sealed record TxnRequest(IReadOnlyList<Compare> Compares, IReadOnlyList<TxnOp> Success, IReadOnlyList<TxnOp> Failure)
{
    /// <summary>Put <paramref name="key"/> only if its ModRevision is still <paramref name="expectedModRevision"/> (0: only if absent).</summary>
    public static TxnRequest CompareAndSet(string key, long expectedModRevision, ReadOnlyMemory<byte> value, long leaseId = 0) =>
        new([Compare.ModRevisionIs(key, expectedModRevision)], [TxnOp.Put(key, value, leaseId)], [TxnOp.Get(key)]);
}

/// <summary>Outcome of a transaction; <see cref="Gets"/> holds the results of Get ops in order (null for a missing key).</summary>
public sealed record TxnResult(bool Succeeded, long Revision, IReadOnlyList<KeyValue?> Gets);

/// <summary>Thrown by a watch that asks for history the store has already compacted.</summary>
public sealed class RevisionCompactedException(long requested, long compactRevision)
    : Exception($"revision {requested} has been compacted; oldest available is {compactRevision + 1}")
{
    public long Requested { get; } = requested;
    public long CompactRevision { get; } = compactRevision;
}

/// <summary>Thrown when the store cannot be reached or has failed; callers treat it as "store unavailable".</summary>
public sealed class StoreUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Thrown when a put refers to a lease the store does not know (never granted, revoked or expired), as etcd's "requested lease not found".</summary>
public sealed class LeaseNotFoundException(long leaseId)
    : Exception($"lease {leaseId} not found")
{
    public long LeaseId { get; } = leaseId;
}
