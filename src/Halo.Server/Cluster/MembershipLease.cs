namespace Halo.Server.Cluster;

/// <summary>
/// When this server stops claiming its share because its membership lease may be gone: the rule, pure (timestamps from the
/// server's <see cref="TimeProvider"/>). Renewals are tried every third of the TTL, each for at most a third of the TTL, so a
/// slow answer never holds up the next try.
/// </summary>
/// <remarks>
/// <para>A slow etcd is not a reason to fence. Every write that matters — a health transition, a leadership change, a lease
/// restore — compares this server's membership key, so a server whose key truly lapsed cannot write, whatever it believes.
/// Fencing on a late renewal bought no safety and cost a great deal: the fenced server's groups had no decider until it
/// renewed or rejoined, and each rejoin handed every group over again (bench/control-plane at 20,000 instances, 2026-11-29:
/// 35 fences, 10 unasked database failovers).</para>
/// <para>So the server fences only on proof that the key is gone (etcd says it no longer knows the lease, or the feed shows
/// the key deleted; <see cref="ServerMembership"/> handles both), and, as a backstop for a server cut off from etcd
/// altogether, once no renewal has been acknowledged for <see cref="Backstop"/> TTLs, counted from when the last acknowledged
/// renewal was sent (etcd extends the lease at receipt, which is later). By then any etcd that hears anyone has expired the
/// lease and the others own this server's share; a server that can reach nobody has nothing to write anyway.</para>
/// </remarks>
internal sealed class MembershipLease
{
    /// <summary>How many TTLs without an acknowledged renewal fence the server when no proof of loss came first.</summary>
    public const int Backstop = 2;

    private readonly TimeProvider _time;
    private long _lastAcknowledgedSend;

    public MembershipLease(TimeSpan ttl, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(ttl, TimeSpan.FromSeconds(1));
        ArgumentNullException.ThrowIfNull(time);
        Ttl = ttl;
        _time = time;
        _lastAcknowledgedSend = time.GetTimestamp();
    }

    public TimeSpan Ttl { get; }

    /// <summary>How often a renewal is sent, and how long one try may take: a third of the TTL, as etcd's own client does.</summary>
    public TimeSpan RenewEvery => Ttl / 3;

    /// <summary>No acknowledged renewal for this long fences the server.</summary>
    public TimeSpan FenceAfter => Ttl * Backstop;

    /// <summary>Time since the last acknowledged renewal was sent (or since the lease was granted).</summary>
    public TimeSpan Silence => _time.GetElapsedTime(Volatile.Read(ref _lastAcknowledgedSend));

    /// <summary>Records that the renewal sent at <paramref name="sentTimestamp"/> was acknowledged.</summary>
    public void Acknowledged(long sentTimestamp)
    {
        if (sentTimestamp > Volatile.Read(ref _lastAcknowledgedSend))
        {
            Volatile.Write(ref _lastAcknowledgedSend, sentTimestamp);
        }
    }

    /// <summary>True once no renewal has been acknowledged for <see cref="FenceAfter"/>.</summary>
    public bool ShouldFence => Silence >= FenceAfter;

    /// <summary>True once the lease may have lapsed at etcd (a whole TTL without an acknowledged renewal): worth a warning, not a fence.</summary>
    public bool MayHaveLapsed => Silence >= Ttl;
}
