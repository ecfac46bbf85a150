namespace Halo.Core.Balancing;

/// <summary>
/// A retry budget (Finagle, Envoy retry_budget): retries may add at most <c>ratio</c> of the live
/// request rate over a sliding window, plus a small floor per second so a quiet service can still
/// retry. Under an outage the extra load is bounded instead of multiplied by the attempt count.
/// </summary>
public sealed class RetryBudget
{
    private readonly double _ratio;
    private readonly int _minPerSecond;
    private readonly TimeProvider _time;
    private readonly int[] _requests;
    private readonly int[] _retries;
    private readonly long[] _bucketSecond;
    private readonly object _gate = new();
    private long _lastSecond = long.MinValue;

    /// <summary>
    /// Creates a budget. <paramref name="ratio"/> default 0.2 (range 0 – 10); <paramref name="minPerSecond"/>
    /// default 10; <paramref name="windowSeconds"/> default 10 (range 1 – 600).
    /// </summary>
    public RetryBudget(double ratio, int minPerSecond, int windowSeconds, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(ratio);
        ArgumentOutOfRangeException.ThrowIfNegative(minPerSecond);
        ArgumentOutOfRangeException.ThrowIfLessThan(windowSeconds, 1);
        ArgumentNullException.ThrowIfNull(time);
        _ratio = ratio;
        _minPerSecond = minPerSecond;
        _time = time;
        _requests = new int[windowSeconds];
        _retries = new int[windowSeconds];
        _bucketSecond = new long[windowSeconds];
        Array.Fill(_bucketSecond, long.MinValue);
    }

    /// <summary>Counts one original (non-retry) request.</summary>
    public void RecordRequest()
    {
        lock (_gate)
        {
            _requests[Bucket()]++;
        }
    }

    /// <summary>Takes one retry from the budget if it allows; false means the caller must not retry.</summary>
    public bool TryAcquireRetry()
    {
        lock (_gate)
        {
            var b = Bucket();
            long requests = 0, retries = 0;
            for (var i = 0; i < _requests.Length; i++)
            {
                requests += _requests[i];
                retries += _retries[i];
            }

            var allowed = Math.Max(_minPerSecond * (long)_requests.Length, (long)(_ratio * requests));
            if (retries >= allowed)
            {
                return false;
            }

            _retries[b]++;
            return true;
        }
    }

    private int Bucket()
    {
        var second = _time.GetTimestamp() / _time.TimestampFrequency;
        var b = (int)(second % _requests.Length);
        if (_bucketSecond[b] != second)
        {
            // The slot last held a second that has left the window: start it afresh.
            _bucketSecond[b] = second;
            _requests[b] = 0;
            _retries[b] = 0;
        }

        if (second == _lastSecond)
        {
            return b;
        }

        _lastSecond = second;
        // Once per second: clear slots that went stale while no traffic arrived so old counts do not linger.
        for (var i = 0; i < _requests.Length; i++)
        {
            if (_bucketSecond[i] != long.MinValue && second - _bucketSecond[i] >= _requests.Length)
            {
                _requests[i] = 0;
                _retries[i] = 0;
                _bucketSecond[i] = long.MinValue;
            }
        }

        return b;
    }
}
