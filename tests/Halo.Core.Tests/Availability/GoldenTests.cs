using Halo.Core.Availability;

namespace Halo.Core.Tests.Availability;

/// <summary>Exact expected values from issue 4, to 1e-10.</summary>
public sealed class GoldenTests
{
    private const double Tolerance = 1e-10;

    private static Component C(double availability, string name = "c") => Component.FromAvailability(name, availability);

    [Fact]
    public void Series_ThreeComponents_IsProduct()
    {
        var block = new SeriesBlock("s", [C(0.999), C(0.9995), C(0.9999)]);
        Assert.Equal(0.99840064995, block.Availability, Tolerance);
    }

    [Fact]
    public void Parallel_TwoComponents_IsOneMinusProductOfUnavailabilities()
    {
        var block = new ParallelBlock("p", [C(0.99), C(0.95)]);
        Assert.Equal(0.9995, block.Availability, Tolerance);
    }

    [Fact]
    public void KOfN_TwoOfThreeIdentical_Is3p2Minus2p3()
    {
        var block = KOfNBlock.Identical("k", 2, 3, C(0.99));
        Assert.Equal(0.999702, block.Availability, Tolerance);
    }

    [Fact]
    public void KOfN_TwoOfThreeAllUp_IsNotTheArticlesCubedFigure()
    {
        // 0.99³ = 0.970299 is "all three up" (3-of-3), not "survives one failure".
        Assert.Equal(0.970299, KOfNBlock.Identical("k", 3, 3, C(0.99)).Availability, Tolerance);
        Assert.NotEqual(0.970299, KOfNBlock.Identical("k", 2, 3, C(0.99)).Availability, Tolerance);
    }

    [Fact]
    public void KOfN_TwoOfThreeNonIdentical_IsExact()
    {
        var block = new KOfNBlock("k", 2, [C(0.99), C(0.95), C(0.90)]);
        Assert.Equal(0.9936, block.Availability, Tolerance);
    }

    [Fact]
    public void FromMtbfMttr_3600And1_IsMtbfOverCycle()
    {
        var component = Component.FromMtbfMttr("c", 3600, 1);
        Assert.Equal(0.99972229936, component.Availability, Tolerance);
        Assert.Equal(1.0 / 3601, component.FailureFrequency!.Value, 1e-15);
    }

    [Fact]
    public void DowntimePerYear_FourNines_Is52Point56Minutes()
    {
        Assert.Equal(52.56, AvailabilityFigures.DowntimeMinutes(0.9999, AvailabilityFigures.HoursPerYear), Tolerance);
        Assert.Equal(52.56, AvailabilityFigures.DowntimePerYear(0.9999).TotalMinutes, 1e-6);
        Assert.Equal(4.32, AvailabilityFigures.DowntimeMinutes(0.9999, AvailabilityFigures.HoursPerMonth), Tolerance);
    }

    [Fact]
    public void Nines_ThreeNines_IsThree()
    {
        Assert.Equal(3, AvailabilityFigures.Nines(0.999), Tolerance);
        Assert.Equal(double.PositiveInfinity, AvailabilityFigures.Nines(1));
    }

    [Fact]
    public void Poisson_HalfExpected_GivesKnownProbabilities()
    {
        Assert.Equal(0.6065306597, Poisson.Probability(0, 0.5), Tolerance);
        Assert.Equal(0.3032653299, Poisson.Probability(1, 0.5), Tolerance);
        Assert.Equal(0.0758163325, Poisson.Probability(2, 0.5), Tolerance);
    }

    [Fact]
    public void Weibull_Shape2_ReliabilityAndMean()
    {
        var lifetime = new WeibullLifetime(2, 1000);
        Assert.Equal(Math.Exp(-0.25), lifetime.Reliability(500), Tolerance);
        Assert.Equal(1000 * Math.Sqrt(Math.PI) / 2, lifetime.MeanLife, 1e-9);
    }

    [Fact]
    public void Weibull_Shape1_EqualsExponential()
    {
        var weibull = new WeibullLifetime(1, 2000);
        var exponential = new ExponentialLifetime(1.0 / 2000);
        Assert.Equal(exponential.Reliability(700), weibull.Reliability(700), Tolerance);
        Assert.Equal(2000, weibull.MeanLife, 1e-9);
    }

    [Fact]
    public void CommonCause_ParallelOfTwo_IsCcfTimesIndependentPart()
    {
        // Q = 0.01, β = 0.1: (1 − βQ)·(1 − ((1 − β)Q)²) = 0.999 × 0.999919.
        var block = new ParallelBlock("p", [C(0.99, "a"), C(0.99, "b")], beta: 0.1);
        Assert.Equal(0.998919081, block.Availability, Tolerance);
    }

    [Fact]
    public void StandbyPair_DatabaseExample_MatchesExactRationalSolution()
    {
        // Oracle: the same chain solved with exact fractions in Python (docs/availability-math.md).
        var pair = new StandbyPairBlock("db", 1.0 / 2000, 8, 30.0 / 3600, 0.95, 0.5);
        Assert.Equal(0.999967770777837, pair.Availability, Tolerance);
        Assert.Equal(4.379858836007, pair.FailureFrequency!.Value * 8760, 1e-9);
    }

    [Fact]
    public void StandbyPair_ColdStandby_MatchesExactRationalSolution()
    {
        var pair = new StandbyPairBlock("db", 1.0 / 1000, 4, 1.0 / 60, 0.99, 1, standbyFailureFactor: 0);
        Assert.Equal(0.999965638630943, pair.Availability, Tolerance);
        Assert.Equal(8.759698994407, pair.FailureFrequency!.Value * 8760, 1e-9);
    }

    [Fact]
    public void StandbyPair_PerfectInstantFailover_EqualsTwoIndependentUnitsInParallel()
    {
        var pair = new StandbyPairBlock("db", 1.0 / 500, 10, 0, 1, 0);
        var unit = Component.FromMtbfMttr("u", 500, 10);
        var parallel = new ParallelBlock("p", [unit, unit]);
        Assert.Equal(parallel.Availability, pair.Availability, Tolerance);
        Assert.Equal(parallel.FailureFrequency!.Value, pair.FailureFrequency!.Value, 1e-15);
        Assert.Equal(parallel.Reliability(1000)!.Value, pair.Reliability(1000)!.Value, Tolerance);
    }

    [Fact]
    public void StandbyPair_ColdPerfectSwitch_MatchesBirthDeathClosedForm()
    {
        const double l = 0.001, mu = 0.25;
        var pair = new StandbyPairBlock("db", l, 1 / mu, 0, 1, 0, standbyFailureFactor: 0);
        var r = l / mu;
        Assert.Equal((1 + r) / (1 + r + (r * r / 2)), pair.Availability, Tolerance);
        Assert.Equal(Math.Exp(-l * 100) * (1 + (l * 100)), pair.Reliability(100)!.Value, Tolerance);
    }

    [Fact]
    public void Reliability_SeriesOfExponentials_AddsRates()
    {
        var block = new SeriesBlock("s", [Component.FromMtbfMttr("a", 1000, 1), Component.FromMtbfMttr("b", 4000, 1)]);
        Assert.Equal(Math.Exp(-(0.001 + 0.00025) * 720), block.Reliability(720)!.Value, Tolerance);
    }

    [Fact]
    public void Reliability_AvailabilityOnlyComponent_IsUnknown()
    {
        Assert.Null(new SeriesBlock("s", [C(0.99), Component.FromMtbfMttr("b", 4000, 1)]).Reliability(720));
        Assert.Null(C(0.99).FailureFrequency);
    }

    [Fact]
    public void FailureFrequency_SeriesOfTwo_IsEachFrequencyTimesTheOthersAvailability()
    {
        var a = Component.FromMtbfMttr("a", 1000, 2);
        var b = Component.FromMtbfMttr("b", 500, 5);
        var block = new SeriesBlock("s", [a, b]);
        Assert.Equal((a.FailureFrequency!.Value * b.Availability) + (b.FailureFrequency!.Value * a.Availability), block.FailureFrequency!.Value, 1e-15);
    }

    [Fact]
    public void FailureFrequency_TwoOfThree_MatchesBirnbaumByHand()
    {
        var c = Component.FromMtbfMttr("c", 1000, 10);
        var block = KOfNBlock.Identical("k", 2, 3, c);
        var p = c.Availability;

        // Each of three children is critical when exactly one of the other two is up: 2p(1 − p).
        Assert.Equal(3 * 2 * p * (1 - p) * c.FailureFrequency!.Value, block.FailureFrequency!.Value, 1e-15);
    }
}
