namespace Halo.Core.Availability;

/// <summary>
/// A leaf: one replaceable thing that is either up or down. Built from an availability, from MTBF
/// and MTTR, from a failure rate and repair time, or from a Weibull lifetime and MTTR.
/// </summary>
public sealed class Component : Block
{
    private readonly double _unreliabilityScale;

    private Component(string name, double availability, double? frequency, ILifetime? lifetime, double? mttr, double unreliabilityScale)
        : base(name)
    {
        Availability = availability;
        FailureFrequency = frequency;
        Lifetime = lifetime;
        Mttr = mttr;
        _unreliabilityScale = unreliabilityScale;
    }

    public override double Availability { get; }

    public override double? FailureFrequency { get; }

    /// <summary>Time-to-failure distribution when known.</summary>
    public ILifetime? Lifetime { get; }

    /// <summary>Mean time to repair in hours when known.</summary>
    public double? Mttr { get; }

    public override IReadOnlyList<Block> Children => [];

    /// <summary>A component known only by its availability: no time scale, so no frequency or reliability.</summary>
    public static Component FromAvailability(string name, double availability)
    {
        Guard.Probability(availability, nameof(availability));
        return new Component(name, availability, null, null, null, 1);
    }

    /// <summary>
    /// A = MTBF / (MTBF + MTTR): the long-run fraction of each failure-repair cycle spent up. Holds for any
    /// lifetime and repair distributions (renewal-reward), not only exponential ones.
    /// </summary>
    public static Component FromMtbfMttr(string name, double mtbf, double mttr)
    {
        Guard.Positive(mtbf, nameof(mtbf));
        Guard.NonNegative(mttr, nameof(mttr));
        return FromLifetime(name, new ExponentialLifetime(1 / mtbf), mttr);
    }

    /// <summary>Failure rate λ per hour and mean repair time; λ = 0 means never fails.</summary>
    public static Component FromRates(string name, double failureRate, double repairTime)
    {
        Guard.NonNegative(failureRate, nameof(failureRate));
        Guard.NonNegative(repairTime, nameof(repairTime));
        return FromLifetime(name, new ExponentialLifetime(failureRate), repairTime);
    }

    /// <summary>Any lifetime plus a mean repair time: A = MTTF / (MTTF + MTTR).</summary>
    public static Component FromLifetime(string name, ILifetime lifetime, double mttr)
    {
        ArgumentNullException.ThrowIfNull(lifetime);
        Guard.NonNegative(mttr, nameof(mttr));
        var mttf = lifetime.MeanLife;
        if (double.IsPositiveInfinity(mttf))
        {
            return new Component(name, 1, 0, lifetime, mttr, 1);
        }

        var cycle = mttf + mttr;
        return new Component(name, mttf / cycle, 1 / cycle, lifetime, mttr, 1);
    }

    /// <summary>
    /// Beta-factor split: the same component with its unavailability, outage frequency and
    /// unreliability multiplied by <paramref name="factor"/> (1 − β for the independent part, β for the
    /// common-cause event). Scaling probabilities, not rates, is the convention of fault-tree tools
    /// (Open-PSA, SCRAM), so results stay comparable with them.
    /// </summary>
    public Component Scaled(string name, double factor)
    {
        Guard.Probability(factor, nameof(factor));
        return new Component(name, 1 - (factor * Unavailability), factor * FailureFrequency, Lifetime, Mttr, factor * _unreliabilityScale);
    }

    public override double? Reliability(double hours) =>
        Lifetime is null ? null : 1 - (_unreliabilityScale * (1 - Lifetime.Reliability(hours)));

    public override IEnumerable<BlockVariant> Variants()
    {
        if (_unreliabilityScale != 1)
        {
            // A derived (beta-split) part: its inputs are varied through the original component.
            yield break;
        }

        if (Lifetime is null)
        {
            yield return new BlockVariant($"{Name}.availability", "unavailability ÷ 2", FromAvailability(Name, 1 - (Unavailability / 2)));
            yield break;
        }

        var mttr = Mttr ?? 0;
        if (Lifetime is ExponentialLifetime exponential && exponential.FailureRate > 0)
        {
            yield return new BlockVariant($"{Name}.mtbf", "MTBF × 2", FromRates(Name, exponential.FailureRate / 2, mttr));
        }
        else if (Lifetime is WeibullLifetime weibull)
        {
            yield return new BlockVariant($"{Name}.weibull.scale", "scale × 2", FromLifetime(Name, new WeibullLifetime(weibull.Shape, weibull.Scale * 2), mttr));
        }

        if (mttr > 0)
        {
            yield return new BlockVariant($"{Name}.mttr", "MTTR ÷ 2", FromLifetime(Name, Lifetime, mttr / 2));
        }
    }

    internal override IStateSampler CreateSampler(Random random) => new BernoulliSampler(Availability);

    private sealed class BernoulliSampler(double availability) : IStateSampler
    {
        public bool SampleUp(Random random) => random.NextDouble() < availability;
    }
}
