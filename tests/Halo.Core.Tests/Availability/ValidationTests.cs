using Halo.Core.Availability;

namespace Halo.Core.Tests.Availability;

public sealed class ValidationTests
{
    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.1)]
    [InlineData(double.NaN)]
    public void FromAvailability_OutsideUnitInterval_Throws(double availability)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => Component.FromAvailability("c", availability));
        Assert.Equal("availability", error.ParamName);
    }

    [Fact]
    public void FromMtbfMttr_NegativeMttr_Throws()
    {
        Assert.Equal("mttr", Assert.Throws<ArgumentOutOfRangeException>(() => Component.FromMtbfMttr("c", 10, -1)).ParamName);
    }

    [Fact]
    public void KOfN_KGreaterThanN_Throws()
    {
        Assert.Equal("k", Assert.Throws<ArgumentOutOfRangeException>(() => KOfNBlock.Identical("k", 4, 3, Component.FromAvailability("c", 0.9))).ParamName);
    }

    [Fact]
    public void CommonCause_NonIdenticalChildren_Throws()
    {
        Assert.Throws<ArgumentException>(() => new ParallelBlock("p", [Component.FromAvailability("a", 0.9), Component.FromAvailability("b", 0.8)], beta: 0.1));
    }

    [Fact]
    public void StandbyPair_CoverageAboveOne_Throws()
    {
        Assert.Equal("coverage", Assert.Throws<ArgumentOutOfRangeException>(() => new StandbyPairBlock("p", 0.001, 1, 0, 1.5, 1)).ParamName);
    }
}
