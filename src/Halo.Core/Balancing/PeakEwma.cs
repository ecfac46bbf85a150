namespace Halo.Core.Balancing;

/// <summary>
/// Peak-sensitive exponentially weighted moving average of latency (Finagle / Linkerd "peak EWMA"):
/// a slower sample replaces the estimate at once, faster samples pull it down with time constant τ,
/// and with no samples at all the estimate decays toward zero so an idle destination is tried again.
/// Failures count as at least <see cref="FailurePenalty"/>, so a backend that fails fast does not look cheap.
/// </summary>
public sealed class PeakEwma
{
    private readonly TimeProvider _time;
    private readonly double _tauTicks;
    private readonly object _gate = new();
    private double _estimateMs;
    private long _stamp;

    /// <summary>Creates an estimator. <paramref name="decay"/> is τ (default 10 s in options); <paramref name="initial"/> is the assumed latency before any sample.</summary>
    public PeakEwma(TimeProvider time, TimeSpan decay, TimeSpan initial, TimeSpan failurePenalty)
    {
        ArgumentNullException.ThrowIfNull(time);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(decay, TimeSpan.Zero);
        _time = time;
        _tauTicks = decay.TotalSeconds * time.TimestampFrequency;
        _estimateMs = initial.TotalMilliseconds;
        _stamp = time.GetTimestamp();
        FailurePenalty = failurePenalty;
    }

    /// <summary>Latency charged for a failed request when it failed faster than this.</summary>
    public TimeSpan FailurePenalty { get; }

    /// <summary>Records a completed request.</summary>
    public void Observe(TimeSpan elapsed, bool failed)
    {
        var sample = elapsed.TotalMilliseconds;
        if (failed)
        {
            sample = Math.Max(sample, FailurePenalty.TotalMilliseconds);
        }

        var now = _time.GetTimestamp();
        lock (_gate)
        {
            if (sample > _estimateMs)
            {
                _estimateMs = sample;
            }
            else
            {
                var w = Math.Exp(-Math.Max(0, now - _stamp) / _tauTicks);
                _estimateMs = (_estimateMs * w) + (sample * (1 - w));
            }

            _stamp = now;
        }
    }

    /// <summary>Current estimate in milliseconds, decayed for the time since the last sample.</summary>
    public double EstimateMs
    {
        get
        {
            var now = _time.GetTimestamp();
            lock (_gate)
            {
                return _estimateMs * Math.Exp(-Math.Max(0, now - _stamp) / _tauTicks);
            }
        }
    }
}
