using Etcdserverpb;

namespace Halo.Store.Etcd;

/// <summary>
/// Makes a transaction that carries a <see cref="TxnOp.Unique"/> put (an event key no other write makes) safe to send again
/// after a lost answer, and lets a repetition answer as the first attempt would have.
/// </summary>
/// <remarks>
/// Every attempt is the same etcd transaction: the caller's compares plus "the unique key is absent", and on failure the
/// caller's reads plus a read of the unique key. So:
/// <list type="bullet">
/// <item>at most one attempt applies: once one has, the key exists and every other attempt's compare fails, whenever it
/// reaches etcd (a late one included);</item>
/// <item>an attempt that fails while the key holds exactly the value this request writes was preceded by its own
/// application, at that key's ModRevision (a transaction writes all its keys at one revision): the answer is success at that
/// revision, what the lost answer said;</item>
/// <item>otherwise the failure is the caller's real conflict, with the caller's reads as it asked for them.</item>
/// </list>
/// Only transactions whose success branch reads nothing (a repetition could not give those reads back) and whose failure
/// branch only reads (repeating it must change nothing) qualify; others are repeated only when not applied.
/// </remarks>
internal static class EtcdIdempotency
{
    /// <summary>The etcd transaction for <paramref name="request"/>, and the unique put that makes it repeatable (or null).</summary>
    public static (Etcdserverpb.TxnRequest Txn, TxnOp? Marker) Build(Halo.Store.TxnRequest request)
    {
        var txn = new Etcdserverpb.TxnRequest();
        txn.Compare.AddRange(request.Compares.Select(EtcdMapping.ToCompare));
        txn.Success.AddRange(request.Success.Select(EtcdMapping.ToRequestOp));
        txn.Failure.AddRange(request.Failure.Select(EtcdMapping.ToRequestOp));
        var marker = MarkerOf(request);
        if (marker is not null)
        {
            txn.Compare.Add(EtcdMapping.ToCompare(Compare.Missing(marker.Key)));
            txn.Failure.Add(EtcdMapping.ToRequestOp(TxnOp.Get(marker.Key)));
        }

        return (txn, marker);
    }

    /// <summary>The unique put that proves <paramref name="request"/> applied, when the request qualifies; otherwise null.</summary>
    public static TxnOp? MarkerOf(Halo.Store.TxnRequest request) =>
        request.Success.All(o => o.Type != TxnOpType.Get) && request.Failure.All(o => o.Type == TxnOpType.Get)
            ? request.Success.FirstOrDefault(o => o is { Type: TxnOpType.Put, Unique: true, LeaseId: 0 })
            : null;

    /// <summary>How the request may be repeated: pure reads and marked transactions are safe; other writes only when not applied.</summary>
    public static EtcdRepeat Repeat(Halo.Store.TxnRequest request, TxnOp? marker) =>
        marker is not null || request.Success.Concat(request.Failure).All(o => o.Type == TxnOpType.Get) ? EtcdRepeat.Safe : EtcdRepeat.IfNotApplied;

    /// <summary>The contract's answer to one attempt's response (see the remarks).</summary>
    public static TxnResult Read(TxnResponse response, TxnOp? marker)
    {
        var gets = response.Responses
            .Where(r => r.ResponseCase == ResponseOp.ResponseOneofCase.ResponseRange)
            .Select(r => r.ResponseRange.Kvs.Count > 0 ? EtcdMapping.ToKeyValue(r.ResponseRange.Kvs[0]) : null)
            .ToList();
        if (response.Succeeded || marker is null)
        {
            return new TxnResult(response.Succeeded, response.Header.Revision, gets);
        }

        // The last read is the marker's, added by Build.
        var applied = gets[^1];
        gets.RemoveAt(gets.Count - 1);
        return applied is not null && applied.Value.Span.SequenceEqual(marker.Value.Span)
            ? new TxnResult(true, applied.ModRevision, [])
            : new TxnResult(false, response.Header.Revision, gets);
    }
}
