using System.Net.Sockets;
using Grpc.Core;

namespace Halo.Store.Etcd;

/// <summary>Which failures of an etcd request may be answered by sending it again, by what a repetition could do.</summary>
internal enum EtcdRepeat
{
    /// <summary>
    /// Reads, and writes whose repetition is detected: a transaction carrying a <see cref="TxnOp.Unique"/> put, which every
    /// attempt sends with "that key is still absent" among its compares, so at most one attempt applies and a later one
    /// reports it. Repeated after any transient failure, and sent again beside an attempt that is slow to answer.
    /// </summary>
    Safe,

    /// <summary>Every other write: repeated only when etcd cannot have applied it, never sent again beside a slow attempt.</summary>
    IfNotApplied,
}

/// <summary>What a failed attempt says about the request's fate.</summary>
internal enum EtcdFailure
{
    /// <summary>etcd refused it before proposing it (no leader, too many requests, proposal dropped), or it never left: not applied.</summary>
    NotApplied,

    /// <summary>Lost with a member or timed out: it may have been applied, or may still be.</summary>
    Ambiguous,

    /// <summary>A definite answer that sending it again would not change (bad request, unknown lease, permission).</summary>
    Final,
}

/// <summary>
/// The retry decision for etcd requests, as etcd's own Go client makes it: a request that cannot have been applied may
/// always go again; one whose fate is unknown goes again only when a repetition is harmless or detectable
/// (<see cref="EtcdRepeat.Safe"/>). Everything else is the caller's answer.
/// </summary>
internal static class EtcdRetryPolicy
{
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromMilliseconds(400);

    public static EtcdFailure Classify(Exception error) => error switch
    {
        // The caller's own cancellation never reaches here; this is an attempt's deadline or its replacement by another.
        OperationCanceledException => EtcdFailure.Ambiguous,
        RpcException rpc => Classify(rpc),
        HttpRequestException http => Refused(http) ? EtcdFailure.NotApplied : EtcdFailure.Ambiguous,
        _ => EtcdFailure.Final,
    };

    public static bool ShouldRepeat(EtcdRepeat repeat, EtcdFailure failure) => failure switch
    {
        EtcdFailure.NotApplied => true,
        EtcdFailure.Ambiguous => repeat == EtcdRepeat.Safe,
        _ => false,
    };

    /// <summary>The pause before attempt <paramref name="failures"/> + 1 when none is running: 50 ms, doubling, at most 400 ms.</summary>
    public static TimeSpan Backoff(int failures) =>
        failures >= 4 ? MaxBackoff : TimeSpan.FromTicks(FirstBackoff.Ticks << Math.Max(0, failures - 1));

    /// <summary>
    /// A failure in one short line for a message: gRPC's "Status(StatusCode=\"Unavailable\", Detail=\"...\", DebugException=
    /// \"System.Net.Sockets.SocketException: Connection refused\")" becomes "Unavailable: ... (Connection refused)", which is
    /// what an operator reads in a 503 and in the server's "Store unreachable" line.
    /// </summary>
    public static string Describe(Exception error)
    {
        ArgumentNullException.ThrowIfNull(error);
        if (error is not RpcException rpc)
        {
            return error.Message;
        }

        var cause = rpc.Status.DebugException;
        while (cause?.InnerException is not null)
        {
            cause = cause.InnerException;
        }

        return cause is null ? $"{rpc.StatusCode}: {rpc.Status.Detail}" : $"{rpc.StatusCode}: {rpc.Status.Detail} ({cause.Message})";
    }

    private static EtcdFailure Classify(RpcException rpc)
    {
        var detail = rpc.Status.Detail ?? "";
        return rpc.StatusCode switch
        {
            // Checked by etcd's interceptor before the request reaches raft (we send "hasleader"), so nothing was proposed.
            StatusCode.Unavailable when detail.Contains("etcdserver: no leader", StringComparison.Ordinal) => EtcdFailure.NotApplied,
            StatusCode.Unavailable when Refused(rpc.Status.DebugException) => EtcdFailure.NotApplied,

            // "request timed out" (possibly due to previous leader failure / connection lost), "leader changed", a reset stream.
            StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.Cancelled => EtcdFailure.Ambiguous,

            // etcd sheds load before proposing when its apply queue is too far behind.
            StatusCode.ResourceExhausted when detail.Contains("too many requests", StringComparison.Ordinal) => EtcdFailure.NotApplied,

            // A follower without a leader drops the proposal (raft's ErrProposalDropped, which etcd passes on as Unknown).
            StatusCode.Unknown when detail.Contains("proposal dropped", StringComparison.Ordinal) => EtcdFailure.NotApplied,
            StatusCode.Unknown => EtcdFailure.Ambiguous,
            _ => EtcdFailure.Final,
        };
    }

    /// <summary>True when the connection itself was refused: the request was never sent.</summary>
    private static bool Refused(Exception? error)
    {
        for (var e = error; e is not null; e = e.InnerException)
        {
            if (e is SocketException { SocketErrorCode: SocketError.ConnectionRefused })
            {
                return true;
            }
        }

        return false;
    }
}
