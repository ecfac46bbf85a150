using dotnet_etcd;
using Etcdserverpb;

namespace Halo.Store;

/// <summary>
/// Lease keep-alives on their own connections, one per etcd member, sent to every member at once; the first answer that the
/// lease lives wins.
/// </summary>
/// <remarks>
/// Why not the shared, round-robin connection: etcd renews leases on its leader only. A follower forwards a renewal to the
/// leader over the peer HTTP path, and the leader answers a forwarded renewal only once it has applied every entry committed
/// when the renewal arrived (etcd's leasehttp handler waits on ApplyWait, for at most 1 s, and the follower retries until
/// the caller's deadline). During a write burst the leader's apply queue runs seconds behind (bench/control-plane at 20,000
/// instances: linearizable reads took 1.5–2.3 s, "too many requests" when the gap passed 5,000 entries), so every renewal that
/// the balancer happened to send to a follower ended in DeadlineExceeded after 5 s, while the same renewal sent to the leader
/// is answered from its lessor at once (it goes through no raft and no apply queue). Sending to every member reaches the
/// leader whichever it is, without asking who leads; own connections keep renewals out of the HTTP/2 connection that carries
/// bulk reads of tens of megabytes. The cost is two forwarded renewals per keep-alive, which etcd serves without a raft write.
/// </remarks>
public sealed partial class EtcdStore
{
    private static EtcdClient[] CreateKeepAliveClients(EtcdStoreOptions options) =>
        [.. EtcdStoreOptions.ParseEndpoints(options.Endpoints).Select(e => CreateClient(options, e.GetLeftPart(UriPartial.Authority)))];

    /// <summary>
    /// One keep-alive round trip to every member at once: true at the first answer that the lease lives; false when every
    /// member answered and at least one said etcd no longer knows the lease (only the leader's lessor decides that, so a
    /// follower's answer is the leader's); <see cref="StoreUnavailableException"/> when no member answered.
    /// </summary>
    public async Task<bool> KeepAliveAsync(long leaseId, CancellationToken cancellationToken = default)
    {
        using var race = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var calls = _keepAlive.Select(lease => KeepAliveOnceAsync(lease, leaseId, race.Token)).ToList();
        var gone = false;
        Exception? failure = null;
        try
        {
            while (calls.Count > 0)
            {
                var done = await Task.WhenAny(calls).ConfigureAwait(false);
                calls.Remove(done);
                if (done.IsCompletedSuccessfully)
                {
                    if (done.Result)
                    {
                        return true;
                    }

                    gone = true;
                }
                else
                {
                    failure ??= done.Exception?.InnerException;
                }
            }
        }
        finally
        {
            // The others are no longer needed: end them, and observe how they end.
            await race.CancelAsync().ConfigureAwait(false);
            _ = Task.WhenAll(calls).ContinueWith(static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        }

        if (gone)
        {
            return false;
        }

        cancellationToken.ThrowIfCancellationRequested();
        throw failure as StoreUnavailableException ?? new StoreUnavailableException("etcd: no member answered the lease keep-alive", failure);
    }

    private Task<bool> KeepAliveOnceAsync(Etcdserverpb.Lease.LeaseClient lease, long leaseId, CancellationToken cancellationToken) =>
        Call(async () =>
        {
            using var call = lease.LeaseKeepAlive(Options(cancellationToken));
            await call.RequestStream.WriteAsync(new LeaseKeepAliveRequest { ID = leaseId }, cancellationToken);
            await call.RequestStream.CompleteAsync();
            return await call.ResponseStream.MoveNext(cancellationToken) && call.ResponseStream.Current.TTL > 0;
        }, cancellationToken);
}
