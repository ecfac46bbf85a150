using Halo.Core.Availability;

namespace Halo.Core.Tests.Availability;

public sealed class MonteCarloTests
{
    [Fact]
    public void Run_TwoOfThreeNonIdentical_IntervalContainsExact()
    {
        var block = new KOfNBlock("k", 2, [Component.FromAvailability("a", 0.99), Component.FromAvailability("b", 0.95), Component.FromAvailability("c", 0.90)]);
        var result = MonteCarloSimulation.Run(block, 200_000, new Random(42));
        Assert.True(result.Contains(block.Availability), $"{block.Availability} outside [{result.Lower}, {result.Upper}]");
        Assert.True(result.Upper - result.Lower < 0.002);
    }

    [Fact]
    public void Run_StandbyPair_SimulatedHistoryAgreesWithMarkovSolution()
    {
        // Coarse rates so outages are common enough to measure well.
        var pair = new StandbyPairBlock("db", 1.0 / 50, 5, 0.5, 0.8, 2);
        var result = MonteCarloSimulation.Run(pair, 400_000, new Random(7));
        Assert.True(result.Contains(pair.Availability), $"{pair.Availability} outside [{result.Lower}, {result.Upper}]");
    }

    [Fact]
    public void Run_PerfectFailoverPair_RareDoubleFailuresStillAgree()
    {
        // Outages need a second failure during a repair: rare, so the history must run long enough.
        var pair = new StandbyPairBlock("db", 1.0 / 200, 10, 0, 1, 0);
        var result = MonteCarloSimulation.Run(pair, 2_000_000, new Random(9));
        Assert.True(result.Contains(pair.Availability), $"{pair.Availability} outside [{result.Lower}, {result.Upper}]");
    }

    [Fact]
    public void Run_SameSeed_IsReproducible()
    {
        var block = new ParallelBlock("p", [Component.FromAvailability("a", 0.9), Component.FromAvailability("b", 0.8)]);
        Assert.Equal(MonteCarloSimulation.Run(block, 10_000, new Random(3)), MonteCarloSimulation.Run(block, 10_000, new Random(3)));
    }

    [Fact]
    public void WilsonInterval_NoFailures_StaysBelowOneAndIsNotDegenerate()
    {
        var (lower, upper) = MonteCarloSimulation.WilsonInterval(1000, 1000, 2.576);
        Assert.Equal(1, upper, 1e-12);
        Assert.True(lower < 1 && lower > 0.99);
    }
}
