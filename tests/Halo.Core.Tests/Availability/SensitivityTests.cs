using Halo.Core.Availability;

namespace Halo.Core.Tests.Availability;

public sealed class SensitivityTests
{
    [Fact]
    public void Analyse_SeriesWithWeakLink_RanksWeakLinkFirst()
    {
        var block = new SeriesBlock("s", [Component.FromAvailability("strong", 0.9999), Component.FromAvailability("weak", 0.99)]);
        var rows = Sensitivity.Analyse(block);
        Assert.Equal("weak.availability", rows[0].Input);
        Assert.Equal(0.005 * 0.9999 * 8760 * 60, rows[0].DowntimeSavedMinutesPerYear, 1e-6);
    }

    [Fact]
    public void Analyse_StandbyPair_ListsFailoverAndCoverageInputs()
    {
        var rows = Sensitivity.Analyse(new StandbyPairBlock("db", 1.0 / 2000, 8, 30.0 / 3600, 0.95, 0.5));
        Assert.Contains(rows, r => r.Input == "db.failoverTime");
        Assert.Contains(rows, r => r.Input == "db.coverage");
        Assert.All(rows, r => Assert.True(r.DowntimeSavedMinutesPerYear >= 0));
    }

    [Fact]
    public void Analyse_CommonCauseBlock_IncludesBeta()
    {
        var block = KOfNBlock.Identical("web", 1, 2, Component.FromMtbfMttr("node", 1000, 4), beta: 0.1);
        var rows = Sensitivity.Analyse(block);
        Assert.Contains(rows, r => r.Input == "web.beta");
        Assert.Contains(rows, r => r.Input == "web.members.mttr");
    }
}
