using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;

namespace Halo.Store.Etcd;

/// <summary>Translation between the store contract and etcd's protobuf messages and errors.</summary>
internal static class EtcdMapping
{
    /// <summary>etcd's "all keys": key and range end "\0" (an empty key is not a valid etcd key).</summary>
    private static readonly ByteString Zero = ByteString.CopyFrom(0);

    public static ByteString Key(string key) => ByteString.CopyFromUtf8(key);

    /// <summary>The [key, range end) pair selecting every key under <paramref name="prefix"/>.</summary>
    public static (ByteString Key, ByteString RangeEnd) Prefix(string prefix)
    {
        if (prefix.Length == 0)
        {
            return (Zero, Zero);
        }

        var start = KeyRange.ToBytes(prefix);
        var end = KeyRange.PrefixEnd(start);
        return (ByteString.CopyFrom(start), end is null ? Zero : ByteString.CopyFrom(end));
    }

    public static KeyValue ToKeyValue(Mvccpb.KeyValue kv) =>
        new(kv.Key.ToStringUtf8(), kv.Value.Memory, kv.CreateRevision, kv.ModRevision, kv.Version, kv.Lease);

    public static Etcdserverpb.Compare ToCompare(Compare compare)
    {
        var result = new Etcdserverpb.Compare
        {
            Key = Key(compare.Key),
            Result = compare.Op switch
            {
                CompareOp.Equal => Etcdserverpb.Compare.Types.CompareResult.Equal,
                CompareOp.NotEqual => Etcdserverpb.Compare.Types.CompareResult.NotEqual,
                CompareOp.Less => Etcdserverpb.Compare.Types.CompareResult.Less,
                _ => Etcdserverpb.Compare.Types.CompareResult.Greater,
            },
        };
        switch (compare.Target)
        {
            case CompareTarget.ModRevision:
                result.Target = Etcdserverpb.Compare.Types.CompareTarget.Mod;
                result.ModRevision = compare.Number;
                break;
            case CompareTarget.CreateRevision:
                result.Target = Etcdserverpb.Compare.Types.CompareTarget.Create;
                result.CreateRevision = compare.Number;
                break;
            case CompareTarget.Version:
                result.Target = Etcdserverpb.Compare.Types.CompareTarget.Version;
                result.Version = compare.Number;
                break;
            default:
                result.Target = Etcdserverpb.Compare.Types.CompareTarget.Value;
                result.Value = ByteString.CopyFrom(compare.Value.Span);
                break;
        }

        return result;
    }

    public static RequestOp ToRequestOp(TxnOp op) => op.Type switch
    {
        TxnOpType.Put => new RequestOp { RequestPut = new PutRequest { Key = Key(op.Key), Value = ByteString.CopyFrom(op.Value.Span), Lease = op.LeaseId } },
        TxnOpType.Delete => new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = Key(op.Key) } },
        _ => new RequestOp { RequestRange = new RangeRequest { Key = Key(op.Key) } },
    };

    /// <summary>Turns etcd's gRPC errors into the contract's exceptions.</summary>
    public static Exception Translate(RpcException error, long leaseId = 0) => error.StatusCode switch
    {
        StatusCode.NotFound when error.Status.Detail.Contains("lease not found", StringComparison.Ordinal) => new LeaseNotFoundException(leaseId),
        StatusCode.InvalidArgument => new ArgumentException(error.Status.Detail, error),
        StatusCode.OutOfRange => new ArgumentOutOfRangeException(error.Status.Detail, error),
        StatusCode.Cancelled => new OperationCanceledException(error.Status.Detail, error),
        _ => new StoreUnavailableException($"etcd: {error.Status.StatusCode}: {error.Status.Detail}", error),
    };
}
