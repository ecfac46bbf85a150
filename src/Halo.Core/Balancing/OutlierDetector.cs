namespace Halo.Core.Balancing;

/// <summary>
/// Passive outlier detection options (Envoy's outlier_detection, simplified).
/// </summary>
public sealed record OutlierOptions
{
    /// <summary>Consecutive failures (connect errors, timeouts, 5xx) that eject a destination. Default 3; range 1 – 1000.</summary>
    public int ConsecutiveFailures { get; init; } = 3;

    /// <summary>First ejection time; the n-th consecutive ejection lasts base × 2^(n-1). Default 2 s.</summary>
    public TimeSpan BaseEjectionTime { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Cap on one ejection's length. Default 60 s.</summary>
    public TimeSpan MaxEjectionTime { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Largest share of a pool's destinations that may be ejected at once, percent. Default 50; range 0 – 100 (at least one may always be ejected).</summary>
    public int MaxEjectionPercent { get; init; } = 50;
}

/// <summary>
/// Tracks one destination's consecutive failures and ejection. Repeat offenders stay out longer
/// (exponential backoff) so a flapping backend does not keep taking a share of traffic; the count
/// resets after a full <see cref="OutlierOptions.MaxEjectionTime"/> without ejection.
/// </summary>
public sealed class OutlierDetector
{
    private readonly OutlierOptions _options;
    private readonly TimeProvider _time;
    private readonly object _gate = new();
    private int _consecutive;
    private int _ejections;
    private long _ejectedUntil;
    private bool _ejected;

    /// <summary>Creates a detector for one destination.</summary>
    public OutlierDetector(OutlierOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        _options = options;
        _time = time;
    }

    /// <summary>How many times in a row this destination has been ejected.</summary>
    public int Ejections
    {
        get
        {
            lock (_gate)
            {
                return _ejections;
            }
        }
    }

    /// <summary>True while an ejection is in force.</summary>
    public bool IsEjected
    {
        get
        {
            lock (_gate)
            {
                return _ejected && _time.GetTimestamp() < _ejectedUntil;
            }
        }
    }

    /// <summary>
    /// Records a failure. Returns the ejection length when this failure ejects the destination;
    /// <paramref name="mayEject"/> is asked first so the caller can enforce the pool-wide cap.
    /// </summary>
    public TimeSpan? RecordFailure(Func<bool> mayEject)
    {
        ArgumentNullException.ThrowIfNull(mayEject);
        lock (_gate)
        {
            if (_ejected && _time.GetTimestamp() < _ejectedUntil)
            {
                return null;
            }

            _consecutive++;
            if (_consecutive < _options.ConsecutiveFailures)
            {
                return null;
            }
        }

        // Asked outside our lock: the cap looks at the other destinations' detectors, and holding
        // ours while taking theirs would deadlock two destinations failing at the same moment.
        if (!mayEject())
        {
            return null;
        }

        lock (_gate)
        {
            var now = _time.GetTimestamp();
            if ((_ejected && now < _ejectedUntil) || _consecutive < _options.ConsecutiveFailures)
            {
                return null;
            }

            _ejections++;
            var factor = Math.Pow(2, Math.Min(_ejections - 1, 30));
            var length = TimeSpan.FromTicks((long)Math.Min(_options.BaseEjectionTime.Ticks * factor, _options.MaxEjectionTime.Ticks));
            _ejected = true;
            _ejectedUntil = now + (long)(length.TotalSeconds * _time.TimestampFrequency);
            _consecutive = 0;
            return length;
        }
    }

    /// <summary>Records a success: clears the failure streak, and the backoff once the destination has stayed healthy long enough.</summary>
    public void RecordSuccess()
    {
        // Hot path: a healthy destination with no streak and no history needs no lock.
        if (Volatile.Read(ref _consecutive) == 0 && Volatile.Read(ref _ejections) == 0)
        {
            return;
        }

        lock (_gate)
        {
            _consecutive = 0;
            if (_ejections > 0 && _time.GetTimestamp() - _ejectedUntil > _options.MaxEjectionTime.TotalSeconds * _time.TimestampFrequency)
            {
                _ejections = 0;
            }
        }
    }

    /// <summary>True when the pool-wide cap allows one more ejection: at most max(1, ⌊share × size⌋) ejected.</summary>
    public static bool EjectionAllowed(int currentlyEjected, int poolSize, int maxEjectionPercent)
    {
        var cap = Math.Max(1, poolSize * maxEjectionPercent / 100);
        return currentlyEjected < cap;
    }
}
