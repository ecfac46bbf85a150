using System.Text.Json;
using Halo.Core.Failover;
using Halo.Core.Serialization;
using Halo.Store;

namespace Halo.Server.Groups;

/// <summary>
/// The leader record of one group over the store. The replace is one transaction guarded by the record's ModRevision,
/// and carries the lease marker and the event, so the epoch, its lease and its explanation appear together or not at all.
/// <paramref name="fence"/> adds the deciding server's membership compare (<c>MembershipView.Fence</c>): a server whose
/// membership lapsed, and whose groups went to others, cannot replace the record.
/// </summary>
internal sealed class StoreLeaderRecords(
    IStore store, string group, Func<LeaderRecord, IEnumerable<TxnOp>>? alongside = null, IReadOnlyList<Compare>? fence = null) : ILeaderRecordStore
{
    /// <summary>The store revision of the last successful replace (the new record's ModRevision).</summary>
    public long LastRevision { get; private set; }

    public async Task<VersionedLeader> ReadAsync(CancellationToken cancellationToken = default)
    {
        var result = await store.GetAsync(GroupKeys.Leader(group), cancellationToken).ConfigureAwait(false);
        return result.Item is { } kv ? new VersionedLeader(Parse(kv), kv.ModRevision) : new VersionedLeader(null, 0);
    }

    public async Task<bool> TryReplaceAsync(long expectedRevision, LeaderRecord next, CancellationToken cancellationToken = default)
    {
        var key = GroupKeys.Leader(group);
        var ops = new List<TxnOp> { TxnOp.Put(key, JsonSerializer.SerializeToUtf8Bytes(next, HaloJson.Options)) };
        ops.AddRange(alongside?.Invoke(next) ?? []);
        var compare = expectedRevision == 0 ? Compare.Missing(key) : Compare.ModRevisionIs(key, expectedRevision);
        var result = await store.TxnAsync(new TxnRequest([compare, .. fence ?? []], ops, []), cancellationToken).ConfigureAwait(false);
        if (result.Succeeded)
        {
            LastRevision = result.Revision;
        }

        return result.Succeeded;
    }

    public static LeaderRecord? Parse(KeyValue kv)
    {
        try
        {
            return JsonSerializer.Deserialize<LeaderRecord>(kv.Value.Span, HaloJson.Options);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
