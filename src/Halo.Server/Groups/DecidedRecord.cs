using System.Text.Json;
using Halo.Core.Failover;
using Halo.Core.Serialization;
using Halo.Store;

namespace Halo.Server.Groups;

/// <summary>
/// What a group's decider shows beyond the leader record (GET /v1/groups/&lt;g&gt;, <c>halo groups</c>, the dashboard) and would
/// otherwise hold only in its memory: the last failover with its stages, the switchover under way, the drill its primary's agent
/// has not carried out yet. Kept in the store (<see cref="GroupKeys.Decided"/>) so that the server that decides the group next
/// (after a kill, a restart, a change of membership) shows the same. Written only by the decider of the current epoch: in the
/// takeover's own transaction, otherwise comparing the leader record it decides on and its membership key (docs/ha.md).
/// </summary>
internal sealed record DecidedRecord(FailoverRecord? LastFailover, string? Pending, PendingDrill? Drill)
{
    public static readonly DecidedRecord None = new(null, null, null);

    /// <summary>The part of <paramref name="s"/> this record keeps.</summary>
    public static DecidedRecord Of(GroupState s) => new(s.LastFailover, s.Pending, s.Drill);

    /// <summary>Puts the record of <paramref name="s"/> (in a transaction that guards it).</summary>
    public static TxnOp Put(string group, DecidedRecord record) =>
        TxnOp.Put(GroupKeys.Decided(group), JsonSerializer.SerializeToUtf8Bytes(record, HaloJson.Options));

    /// <summary>What a stored record says; null when it cannot be read (a later decider writes a good one).</summary>
    public static DecidedRecord? Parse(KeyValue kv) => GroupRegistry.Deserialize<DecidedRecord>(kv);
}
