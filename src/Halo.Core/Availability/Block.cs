namespace Halo.Core.Availability;

/// <summary>
/// A node of a reliability block diagram. Every figure assumes the children of a block fail
/// independently of each other and that the system is in steady state (long-run averages).
/// Times are in hours and rates are per hour throughout, so figures compose without unit juggling.
/// </summary>
public abstract class Block
{
    protected Block(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Name = name;
    }

    /// <summary>The name used in reports and the sensitivity table.</summary>
    public string Name { get; }

    /// <summary>Steady-state probability that the block is up, in [0, 1].</summary>
    public abstract double Availability { get; }

    /// <summary>Steady-state unavailability, 1 − <see cref="Availability"/>.</summary>
    public double Unavailability => 1 - Availability;

    /// <summary>
    /// Long-run outages per hour (transitions from up to down), or null when some input carries no
    /// time scale (a component given only by its availability).
    /// </summary>
    public abstract double? FailureFrequency { get; }

    /// <summary>The blocks this one is built from (empty for a leaf).</summary>
    public abstract IReadOnlyList<Block> Children { get; }

    /// <summary>
    /// Probability of surviving a mission of <paramref name="hours"/> with no repair, or null when a
    /// lifetime distribution is unknown somewhere below.
    /// </summary>
    public abstract double? Reliability(double hours);

    /// <summary>
    /// The same model with one input improved, one variant per input; the sensitivity table ranks them.
    /// </summary>
    public abstract IEnumerable<BlockVariant> Variants();

    /// <summary>Creates a sampler that draws the block's up/down state in a random moment of steady state.</summary>
    internal abstract IStateSampler CreateSampler(Random random);
}

/// <summary>A model with one input changed: which input, what change, and the resulting block.</summary>
public sealed record BlockVariant(string Input, string Change, Block Model);

/// <summary>Draws whether a block is up at a random instant, for the Monte Carlo cross-check.</summary>
internal interface IStateSampler
{
    bool SampleUp(Random random);
}
