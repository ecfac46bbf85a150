namespace Halo.Core.Balancing;

/// <summary>
/// One destination as the balancing policies see it: identity, weight and live load signals.
/// Load counters are updated lock-free by the proxy; policies only read them.
/// </summary>
public sealed class BalancingDestination
{
    private int _inFlight;
    private double _weightFactor = 1;

    /// <summary>Creates a destination with a base weight (must be positive) and its latency estimator.</summary>
    public BalancingDestination(string id, double weight, PeakEwma latency)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(weight);
        ArgumentNullException.ThrowIfNull(latency);
        Id = id;
        Weight = weight;
        Latency = latency;
    }

    /// <summary>Stable identity (instance id or address); consistent hashing keys its ring on it.</summary>
    public string Id { get; }

    /// <summary>Configured weight, positive.</summary>
    public double Weight { get; }

    /// <summary>
    /// Multiplier in (0, 1] applied by slow start; the health layer lowers it for a destination that
    /// just became healthy so a cold cache or JIT is not hit with a full share at once.
    /// </summary>
    public double WeightFactor
    {
        get => Volatile.Read(ref _weightFactor);
        set => Volatile.Write(ref _weightFactor, Math.Clamp(value, 0.01, 1));
    }

    /// <summary>Weight the policies use: <see cref="Weight"/> × <see cref="WeightFactor"/>.</summary>
    public double EffectiveWeight => Weight * WeightFactor;

    /// <summary>Requests currently outstanding on this destination.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Peak-EWMA latency estimate fed by completed requests.</summary>
    public PeakEwma Latency { get; }

    /// <summary>Marks a request as started; pair with <see cref="End"/>.</summary>
    public void Begin() => Interlocked.Increment(ref _inFlight);

    /// <summary>Marks a request as finished.</summary>
    public void End() => Interlocked.Decrement(ref _inFlight);

    /// <inheritdoc />
    public override string ToString() => Id;
}
