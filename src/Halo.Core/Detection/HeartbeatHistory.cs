namespace Halo.Core.Detection;

/// <summary>
/// An instance's heartbeat record: when it registered, its last heartbeat and a bounded window of
/// inter-arrival times with running mean and variance. Not thread-safe: <see cref="InstanceHealth"/>
/// serialises access. <see cref="Add"/> never allocates, so the heartbeat path stays cheap.
/// </summary>
public sealed class HeartbeatHistory
{
    private readonly double[] _samples; // inter-arrival times in milliseconds, ring buffer
    private int _count;
    private int _next;
    private double _sum;
    private double _sumOfSquares;

    /// <summary>Creates an empty history for an instance registered at <paramref name="registeredAt"/>.</summary>
    /// <param name="registeredAt">Registration time; the first heartbeat deadline counts from here.</param>
    /// <param name="sampleWindow">Inter-arrival samples kept (0 keeps none: the fixed detector needs no statistics).</param>
    public HeartbeatHistory(DateTimeOffset registeredAt, int sampleWindow)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sampleWindow);
        RegisteredAt = registeredAt;
        _samples = sampleWindow == 0 ? [] : new double[sampleWindow];
    }

    /// <summary>When the instance registered.</summary>
    public DateTimeOffset RegisteredAt { get; }

    /// <summary>Last heartbeat, or null if none arrived yet.</summary>
    public DateTimeOffset? LastHeartbeat { get; private set; }

    /// <summary>Where silence is measured from: the last heartbeat, else the registration.</summary>
    public DateTimeOffset Reference => LastHeartbeat ?? RegisteredAt;

    /// <summary>Inter-arrival samples currently in the window.</summary>
    public int SampleCount => _count;

    /// <summary>Mean inter-arrival time in milliseconds (0 when there are no samples).</summary>
    public double MeanMilliseconds => _count == 0 ? 0 : _sum / _count;

    /// <summary>Population standard deviation of the inter-arrival times in milliseconds.</summary>
    public double StdDeviationMilliseconds
    {
        get
        {
            if (_count == 0)
            {
                return 0;
            }

            var mean = _sum / _count;
            // Running sums can cancel to a tiny negative number; variance is never negative.
            return Math.Sqrt(Math.Max(0, (_sumOfSquares / _count) - (mean * mean)));
        }
    }

    /// <summary>Records a heartbeat. Stale or duplicate timestamps (at or before the last one) are ignored.</summary>
    /// <returns>True when the heartbeat was recorded.</returns>
    public bool Add(DateTimeOffset at)
    {
        if (LastHeartbeat is { } last)
        {
            if (at <= last)
            {
                return false;
            }

            AddSample((at - last).TotalMilliseconds);
        }

        // The registration→first-heartbeat gap is not a sample: agents often heartbeat right after registering.
        LastHeartbeat = at;
        return true;
    }

    private void AddSample(double milliseconds)
    {
        if (_samples.Length == 0)
        {
            return;
        }

        if (_count == _samples.Length)
        {
            var evicted = _samples[_next];
            _sum -= evicted;
            _sumOfSquares -= evicted * evicted;
        }
        else
        {
            _count++;
        }

        _samples[_next] = milliseconds;
        _sum += milliseconds;
        _sumOfSquares += milliseconds * milliseconds;
        _next = (_next + 1) % _samples.Length;

        if (_next == 0)
        {
            Resum();
        }
    }

    // Add/subtract drifts over millions of heartbeats; an exact re-sum once per lap of the ring is
    // O(1) amortised and keeps the statistics honest forever.
    private void Resum()
    {
        double sum = 0, squares = 0;
        for (var i = 0; i < _count; i++)
        {
            sum += _samples[i];
            squares += _samples[i] * _samples[i];
        }

        _sum = sum;
        _sumOfSquares = squares;
    }
}
