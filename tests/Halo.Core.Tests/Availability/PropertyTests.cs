using CsCheck;
using Halo.Core.Availability;

namespace Halo.Core.Tests.Availability;

public sealed class PropertyTests
{
    private static readonly Gen<double[]> Availabilities = Gen.Double[0, 1].Array[1, 7];

    private static Block[] Components(double[] availabilities) =>
        [.. availabilities.Select((a, i) => (Block)Component.FromAvailability($"c{i}", a))];

    [Fact]
    public void Parallel_AddingRedundantComponent_NeverLowersAvailability()
    {
        Gen.Select(Availabilities, Gen.Double[0, 1]).Sample((a, extra) =>
        {
            var before = new ParallelBlock("p", Components(a)).Availability;
            var after = new ParallelBlock("p", Components([.. a, extra])).Availability;
            Assert.True(after >= before - 1e-15, $"{after} < {before}");
        });
    }

    [Fact]
    public void KOfN_AddingRedundantComponent_NeverLowersAvailability()
    {
        Gen.Select(Availabilities, Gen.Double[0, 1], Gen.Int[1, 7]).Sample((a, extra, k) =>
        {
            k = Math.Min(k, a.Length);
            var before = new KOfNBlock("k", k, Components(a)).Availability;
            var after = new KOfNBlock("k", k, Components([.. a, extra])).Availability;
            Assert.True(after >= before - 1e-15, $"{after} < {before}");
        });
    }

    [Fact]
    public void Series_OfOne_EqualsTheComponent()
    {
        Gen.Select(Gen.Double[1, 1e6], Gen.Double[0, 100]).Sample((mtbf, mttr) =>
        {
            var component = Component.FromMtbfMttr("c", mtbf, mttr);
            var series = new SeriesBlock("s", [component]);
            Assert.Equal(component.Availability, series.Availability);
            Assert.Equal(component.FailureFrequency, series.FailureFrequency);
            Assert.Equal(component.Reliability(100), series.Reliability(100));
        });
    }

    [Fact]
    public void KOfN_KEqualsN_EqualsSeries()
    {
        Availabilities.Sample(a =>
        {
            var c = Components(a);
            Assert.Equal(new SeriesBlock("s", c).Availability, new KOfNBlock("k", c.Length, c).Availability, 1e-12);
        });
    }

    [Fact]
    public void KOfN_KEqualsOne_EqualsParallel()
    {
        Availabilities.Sample(a =>
        {
            var c = Components(a);
            Assert.Equal(new ParallelBlock("p", c).Availability, new KOfNBlock("k", 1, c).Availability, 1e-12);
        });
    }

    [Fact]
    public void KOfN_IdenticalComponents_EqualsBinomialSum()
    {
        Gen.Select(Gen.Double[0, 1], Gen.Int[1, 12], Gen.Int[1, 12]).Sample((p, k, n) =>
        {
            k = Math.Min(k, n);
            var expected = 0.0;
            for (var i = k; i <= n; i++)
            {
                expected += Binomial(n, i) * Math.Pow(p, i) * Math.Pow(1 - p, n - i);
            }

            Assert.Equal(expected, KOfNBlock.Identical("k", k, n, Component.FromAvailability("c", p)).Availability, 1e-12);
        });
    }

    [Fact]
    public void CommonCause_BetaZero_EqualsIndependentModel()
    {
        Gen.Select(Gen.Double[0, 1], Gen.Int[2, 5]).Sample((p, n) =>
        {
            var c = Component.FromAvailability("c", p);
            Assert.Equal(KOfNBlock.Identical("k", 1, n, c).Availability, KOfNBlock.Identical("k", 1, n, c, beta: 0).Availability);
        });
    }

    [Fact]
    public void CommonCause_LargerBeta_NeverRaisesParallelAvailability()
    {
        // Only for small unavailability (Q <= 0.1), the regime the beta-factor model is meant for: with Q
        // near 1 moving probability into the shared event can raise availability (docs/availability-math.md).
        Gen.Select(Gen.Double[0.9, 1], Gen.Double[0, 1], Gen.Double[0, 1]).Sample((p, b1, b2) =>
        {
            var (low, high) = b1 < b2 ? (b1, b2) : (b2, b1);
            var c = Component.FromAvailability("c", p);
            var lowBeta = KOfNBlock.Identical("k", 1, 3, c, low).Availability;
            var highBeta = KOfNBlock.Identical("k", 1, 3, c, high).Availability;
            Assert.True(highBeta <= lowBeta + 1e-15);
        });
    }

    [Fact]
    public void Availability_AnyNestedStructure_StaysWithinZeroAndOne()
    {
        Gen.Select(Availabilities, Availabilities, Gen.Int[1, 7]).Sample((a, b, k) =>
        {
            var inner = new KOfNBlock("k", Math.Min(k, a.Length), Components(a));
            var block = new SeriesBlock("s", [inner, new ParallelBlock("p", Components(b))]);
            Assert.InRange(block.Availability, 0, 1);
        });
    }

    [Fact]
    public void StandbyPair_BetterCoverage_NeverLowersAvailability()
    {
        Gen.Select(Gen.Double[10, 1e5], Gen.Double[0.1, 100], Gen.Double[0, 1], Gen.Double[0, 1]).Sample((mtbf, mttr, c1, c2) =>
        {
            var (low, high) = c1 < c2 ? (c1, c2) : (c2, c1);
            var worse = new StandbyPairBlock("p", 1 / mtbf, mttr, 0.01, low, 1);
            var better = new StandbyPairBlock("p", 1 / mtbf, mttr, 0.01, high, 1);
            Assert.True(better.Availability >= worse.Availability - 1e-12);
            Assert.InRange(worse.StateProbabilities.Sum(), 1 - 1e-12, 1 + 1e-12);
        });
    }

    private static double Binomial(int n, int k)
    {
        var result = 1.0;
        for (var i = 1; i <= k; i++)
        {
            result = result * (n - k + i) / i;
        }

        return result;
    }
}
