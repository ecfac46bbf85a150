namespace Halo.Core.Availability;

/// <summary>Estimate of availability from random state samples, with a confidence interval.</summary>
/// <param name="Estimate">Fraction of samples in which the system was up.</param>
/// <param name="Lower">Lower end of the interval.</param>
/// <param name="Upper">Upper end of the interval.</param>
/// <param name="Confidence">Confidence level of the interval (0.99).</param>
public sealed record MonteCarloResult(long Trials, long UpSamples, double Estimate, double Lower, double Upper, double Confidence)
{
    /// <summary>True when <paramref name="value"/> lies inside the interval.</summary>
    public bool Contains(double value) => value >= Lower && value <= Upper;
}

/// <summary>
/// Monte Carlo cross-check: draws every leaf's state independently (a repairable pair from a simulated
/// history), evaluates the structure, and counts. Independent of the exact formulas by construction.
/// </summary>
public static class MonteCarloSimulation
{
    // z for a two-sided 99 % interval: a cross-check should rarely cry wolf.
    private const double Z = 2.5758293035489004;

    /// <param name="random">A seeded generator, so a run is reproducible (never a shared one).</param>
    public static MonteCarloResult Run(Block model, long trials, Random random)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(random);
        ArgumentOutOfRangeException.ThrowIfLessThan(trials, 1);
        var sampler = model.CreateSampler(random);
        long up = 0;
        for (long i = 0; i < trials; i++)
        {
            if (sampler.SampleUp(random))
            {
                up++;
            }
        }

        var (lower, upper) = WilsonInterval(up, trials, Z);
        return new MonteCarloResult(trials, up, (double)up / trials, lower, upper, 0.99);
    }

    /// <summary>
    /// Wilson score interval: unlike p ± z·√(p(1−p)/n) it stays inside [0, 1] and is still honest when
    /// no sample at all was down, which is the usual case for a highly available system.
    /// </summary>
    public static (double Lower, double Upper) WilsonInterval(long successes, long trials, double z)
    {
        var n = (double)trials;
        var p = successes / n;
        var z2 = z * z;
        var centre = (p + (z2 / (2 * n))) / (1 + (z2 / n));
        var half = z / (1 + (z2 / n)) * Math.Sqrt((p * (1 - p) / n) + (z2 / (4 * n * n)));
        return (Math.Max(0, centre - half), Math.Min(1, centre + half));
    }
}
