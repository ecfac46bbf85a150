namespace Halo.Core.Cluster;

/// <summary>
/// Whether a peer's process is gone, from attempts to connect to it: its address refused <c>refusals</c> connections in a row,
/// spread over at least <c>span</c>. A refused connection means nothing listens there (the process died and the kernel closed
/// its socket); a timeout proves nothing (paused, overloaded, cut off) and neither counts nor clears; an accepted connection
/// clears the count. The verdict only hurries what the peer's membership lease would do anyway, and every write a member
/// makes is fenced by its membership key, so a wrong verdict costs a reshuffle, never safety (docs/ha.md).
/// </summary>
public sealed class DeathEvidence
{
    private readonly int _refusals;
    private readonly TimeSpan _span;
    private readonly TimeProvider _time;
    private long _first;
    private int _count;

    /// <summary>Evidence needing <paramref name="refusals"/> (at least 2) refusals in a row over at least <paramref name="span"/>.</summary>
    public DeathEvidence(int refusals, TimeSpan span, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(refusals, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(span, TimeSpan.Zero);
        ArgumentNullException.ThrowIfNull(time);
        (_refusals, _span, _time) = (refusals, span, time);
    }

    /// <summary>Records a refused connection; true once the evidence is enough.</summary>
    public bool Refused()
    {
        if (_count++ == 0)
        {
            _first = _time.GetTimestamp();
        }

        return _count >= _refusals && _time.GetElapsedTime(_first) >= _span;
    }

    /// <summary>Records an accepted connection: whatever listens there is not dead.</summary>
    public void Accepted() => _count = 0;
}
