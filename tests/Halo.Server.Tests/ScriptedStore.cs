using Halo.Store;

namespace Halo.Server.Tests;

/// <summary>How <see cref="ScriptedStore"/> answers lease keep-alives.</summary>
public enum RenewalFault
{
    None,
    Hang,
    Fail,
}

/// <summary>
/// A store (the embedded one, on a fake clock) whose lease keep-alives can be made to hang until cancelled or fail as an etcd
/// that does not answer in time would; everything else goes straight through.
/// </summary>
public sealed class ScriptedStore(IStore inner) : IStore
{
    private int _keepAlives;

    public RenewalFault Fault { get; set; }

    /// <summary>While true, watches and revision reads fail as they do while etcd is down; <see cref="Unanswered"/> counts them.</summary>
    public bool Unreachable { get; set; }

    public int Unanswered => Volatile.Read(ref _unanswered);

    private int _unanswered;

    public int KeepAlives => Volatile.Read(ref _keepAlives);

    public long LastLease { get; private set; }

    public async Task<bool> KeepAliveAsync(long leaseId, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _keepAlives);
        switch (Fault)
        {
            case RenewalFault.Hang:
                // Until the membership gives up on this try (its own timeout, on the fake clock).
                await Task.Delay(Timeout.InfiniteTimeSpan, TimeProvider.System, cancellationToken);
                return true;
            case RenewalFault.Fail:
                throw new StoreUnavailableException("etcd: DeadlineExceeded");
            default:
                return await inner.KeepAliveAsync(leaseId, cancellationToken);
        }
    }

    public async Task<Lease> GrantLeaseAsync(TimeSpan ttl, CancellationToken cancellationToken = default)
    {
        var lease = await inner.GrantLeaseAsync(ttl, cancellationToken);
        LastLease = lease.Id;
        return lease;
    }

    private Task? _holdNextRead;

    /// <summary>
    /// The next read of one key is taken at once and answered only when this completes (a linearizable read that a loaded etcd
    /// answers late); later reads go straight through.
    /// </summary>
    public Task? HoldNextRead { set => Volatile.Write(ref _holdNextRead, value); }

    public async Task<GetResult> GetAsync(string key, CancellationToken cancellationToken = default)
    {
        var hold = Interlocked.Exchange(ref _holdNextRead, null);
        var result = await inner.GetAsync(key, cancellationToken);
        if (hold is not null)
        {
            await hold.WaitAsync(cancellationToken);
        }

        return result;
    }

    public Task<RangeResult> ListAsync(string prefix, CancellationToken cancellationToken = default) => inner.ListAsync(prefix, cancellationToken);

    public Task<long> PutAsync(string key, ReadOnlyMemory<byte> value, long leaseId = 0, CancellationToken cancellationToken = default) =>
        inner.PutAsync(key, value, leaseId, cancellationToken);

    public Task<DeleteResult> DeleteAsync(string key, bool prefix = false, CancellationToken cancellationToken = default) =>
        inner.DeleteAsync(key, prefix, cancellationToken);

    public Task<TxnResult> TxnAsync(TxnRequest request, CancellationToken cancellationToken = default) => inner.TxnAsync(request, cancellationToken);

    public Task RevokeLeaseAsync(long leaseId, CancellationToken cancellationToken = default) => inner.RevokeLeaseAsync(leaseId, cancellationToken);

    public IAsyncEnumerable<WatchEvent> WatchAsync(string prefix, long afterRevision, CancellationToken cancellationToken = default)
    {
        ThrowIfUnreachable();
        return inner.WatchAsync(prefix, afterRevision, cancellationToken);
    }

    public Task<long> GetRevisionAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfUnreachable();
        return inner.GetRevisionAsync(cancellationToken);
    }

    private void ThrowIfUnreachable()
    {
        if (Unreachable)
        {
            Interlocked.Increment(ref _unanswered);
            throw new StoreUnavailableException("etcd did not answer within 5 s (9 attempts): Unavailable: Error connecting to subchannel.");
        }
    }

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
