using Halo.Core.Detection;

namespace Halo.Core.Tests.Detection;

public sealed class CallerReportsTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Judge_NearlyAllRequestsFailed_Failing()
    {
        var reports = new CallerReports(new CallerEvidenceOptions());
        reports.Add("gw-a", T0, 60, 58);

        var verdict = reports.Judge(T0.AddSeconds(1));

        Assert.True(verdict.Failing);
        Assert.Equal(["gw-a"], verdict.Reporters);
    }

    [Theory]
    [InlineData(5, 5)] // every request failed, but too few to judge
    [InlineData(100, 40)] // enough requests, but only some failed
    public void Judge_FewRequestsOrSomeFailures_NotFailing(int requests, int failures)
    {
        var reports = new CallerReports(new CallerEvidenceOptions());
        reports.Add("gw-a", T0, requests, failures);

        Assert.False(reports.Judge(T0).Failing);
    }

    [Fact]
    public void Judge_SeveralReporters_Summed()
    {
        var reports = new CallerReports(new CallerEvidenceOptions());
        reports.Add("gw-a", T0, 10, 10);
        reports.Add("gw-b", T0, 10, 9);

        var verdict = reports.Judge(T0);

        Assert.True(verdict.Failing);
        Assert.Equal(20, verdict.Requests);
        Assert.Equal(19, verdict.Failures);
    }

    [Fact]
    public void Judge_ReportsOlderThanWindow_Expire()
    {
        var reports = new CallerReports(new CallerEvidenceOptions { Window = TimeSpan.FromSeconds(30) });
        reports.Add("gw-a", T0, 100, 100);

        Assert.True(reports.Judge(T0.AddSeconds(30)).Failing);
        Assert.False(reports.Judge(T0.AddSeconds(31)).Failing);
    }

    [Fact]
    public void Judge_Disabled_NeverFailing()
    {
        var reports = new CallerReports(new CallerEvidenceOptions { Enabled = false });
        reports.Add("gw-a", T0, 100, 100);

        Assert.False(reports.Judge(T0).Failing);
    }

    [Fact]
    public void Add_ReportersGoQuiet_TheirNamesAreForgotten()
    {
        var reports = new CallerReports(new CallerEvidenceOptions { Window = TimeSpan.FromSeconds(30) });
        for (var i = 0; i < 50; i++)
        {
            reports.Add($"gw-{i}", T0, 10, 0);
        }

        reports.Add("gw-late", T0.AddMinutes(1), 10, 0);

        Assert.Equal(1, reports.ReporterCount);
        Assert.Equal(["gw-late"], reports.Judge(T0.AddMinutes(1)).Reporters);
        Assert.Empty(reports.Judge(T0.AddMinutes(2)).Reporters);
        Assert.Equal(0, reports.ReporterCount);
    }

    [Fact]
    public void Add_ManyNamesAtOnce_BoundedByMaxReporters()
    {
        var reports = new CallerReports(new CallerEvidenceOptions());
        for (var i = 0; i < 10 * CallerReports.MaxReporters; i++)
        {
            reports.Add($"gw-{i}", T0.AddMilliseconds(i), 1, 0);
        }

        Assert.Equal(CallerReports.MaxReporters, reports.ReporterCount);
        Assert.Contains($"gw-{10 * CallerReports.MaxReporters - 1}", reports.Judge(T0.AddSeconds(1)).Reporters);
    }
}
