using Halo.Core.Availability;
using Halo.Core.Configuration;

namespace Halo.Core.Tests.Availability;

public sealed class ReportTests
{
    [Fact]
    public void Build_SingleExponentialComponent_GivesFrequencyPoissonAndReliability()
    {
        var component = Component.FromRates("c", 0.0005, 0);
        var report = AvailabilityReport.Build(component, new ReportOptions(PeriodHours: 1000, MissionHours: 1000, MaxFailures: 2));
        Assert.Equal(1, report.Availability);
        Assert.Equal(0.0005 * 8760, report.OutagesPerYear!.Value, 1e-12);
        Assert.Equal(0.6065306597, report.OutageCountProbabilities![0], 1e-10);
        Assert.Equal(3, report.OutageCountProbabilities.Count);
        Assert.Equal(Math.Exp(-0.5), report.MissionReliability!.Value, 1e-12);
    }

    [Fact]
    public void Build_AvailabilityOnly_LeavesTimeFiguresUnknown()
    {
        var report = AvailabilityReport.Build(Component.FromAvailability("c", 0.9999), new ReportOptions());
        Assert.Equal(52.56, report.DowntimeMinutesPerYear, 1e-10);
        Assert.Equal(4, report.Nines, 1e-10);
        Assert.Null(report.OutagesPerYear);
        Assert.Null(report.MeanOutageHours);
        Assert.Null(report.OutageCountProbabilities);
        Assert.Null(report.MissionReliability);
    }

    [Fact]
    public void Build_RepairableComponent_MeanOutageIsMttr()
    {
        var report = AvailabilityReport.Build(Component.FromMtbfMttr("c", 3600, 1), new ReportOptions());
        Assert.Equal(1, report.MeanOutageHours!.Value, 1e-9);
    }
}

public sealed class FailoverBudgetTests
{
    [Fact]
    public void Compute_SampleGroup_SumsLeaseTickPromoteAndReroute()
    {
        var group = new GroupConfig
        {
            LeaseTtl = TimeSpan.FromSeconds(2),
            ControllerInterval = TimeSpan.FromMilliseconds(100),
            PromoteTimeout = TimeSpan.FromSeconds(2),
            RerouteBound = TimeSpan.FromMilliseconds(200),
        };
        var budget = FailoverBudget.Compute("cache", group);
        Assert.Equal(TimeSpan.FromMilliseconds(4300), budget.Total);
        Assert.Equal(["detection", "detection", "decision", "promotion", "re-routing"], budget.Terms.Select(t => t.Phase));
        Assert.Equal("groups.cache.leaseTtl", budget.Terms[0].Source);
        Assert.Equal(budget.Total, budget.Terms.Aggregate(TimeSpan.Zero, (sum, t) => sum + t.Value));
    }

    [Fact]
    public void Compute_LongerLease_LengthensBudgetByTheSameAmount()
    {
        var shorter = FailoverBudget.Compute("g", new GroupConfig { LeaseTtl = TimeSpan.FromSeconds(2) });
        var longer = FailoverBudget.Compute("g", new GroupConfig { LeaseTtl = TimeSpan.FromSeconds(5) });
        Assert.Equal(TimeSpan.FromSeconds(3), longer.Total - shorter.Total);
    }
}
