using System.Runtime.CompilerServices;
using Etcdserverpb;
using Grpc.Core;
using Halo.Store.Etcd;

namespace Halo.Store;

public sealed partial class EtcdStore
{
    /// <summary>
    /// One etcd watch stream starting at <paramref name="afterRevision"/> + 1: etcd itself replays history then
    /// streams live changes without a gap. A broken stream throws <see cref="StoreUnavailableException"/>;
    /// the caller resumes from the last revision it saw.
    /// </summary>
    public async IAsyncEnumerable<WatchEvent> WatchAsync(
        string prefix,
        long afterRevision,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentOutOfRangeException.ThrowIfNegative(afterRevision);
        var (key, end) = EtcdMapping.Prefix(prefix);
        using var call = _watch.Watch(new CallOptions(cancellationToken: cancellationToken));
        await Call(async () =>
        {
            var create = new WatchCreateRequest { Key = key, RangeEnd = end, StartRevision = afterRevision + 1 };
            await call.RequestStream.WriteAsync(new WatchRequest { CreateRequest = create }, cancellationToken);
            return true;
        }, cancellationToken);

        while (true)
        {
            var response = await Call(async () => await call.ResponseStream.MoveNext(cancellationToken) ? call.ResponseStream.Current : null, cancellationToken);
            if (response is null)
            {
                throw new StoreUnavailableException("etcd closed the watch stream");
            }

            if (response.CompactRevision > 0)
            {
                // etcd reports the oldest revision it still has; the contract reports the newest one it dropped.
                throw new RevisionCompactedException(afterRevision + 1, response.CompactRevision - 1);
            }

            if (response.Canceled)
            {
                throw new StoreUnavailableException("etcd cancelled the watch: " + response.CancelReason);
            }

            foreach (var change in response.Events)
            {
                var type = change.Type == Mvccpb.Event.Types.EventType.Put ? WatchEventType.Put : WatchEventType.Delete;
                yield return new WatchEvent(type, EtcdMapping.ToKeyValue(change.Kv));
            }
        }
    }
}
