using System.Text.Json;
using Halo.Cli.Tests.Model;

namespace Halo.Cli.Tests.Model;

public sealed class ModelCommandTests
{
    private static JsonElement Json(string output) => JsonDocument.Parse(output).RootElement;

    [Theory]
    [InlineData("three-node-quorum.yaml", 0.999702)]
    [InlineData("mixed-quorum.yaml", 0.9936)]
    [InlineData("series-chain.yaml", 0.99840064995)]
    public void Invoke_GoldenExample_PrintsExactAvailability(string example, double expected)
    {
        var (exit, output, error) = CommandRunner.Run(CommandRunner.Example(example), "--json");
        Assert.True(exit == 0, error);
        Assert.Equal(expected, Json(output).GetProperty("availability").GetDouble(), 1e-10);
    }

    [Fact]
    public void Invoke_WebShop_MatchesFiguresQuotedInDocs()
    {
        var root = Json(CommandRunner.Run(CommandRunner.Example("web-shop.yaml"), "--json").Output);
        Assert.Equal(0.9999149138813761, root.GetProperty("availability").GetDouble(), 1e-12);
        Assert.Equal(44.72126394872209, root.GetProperty("downtimeMinutesPerYear").GetDouble(), 1e-8);
        Assert.Equal(4.622959108262837, root.GetProperty("outagesPerYear").GetDouble(), 1e-9);
        Assert.Equal("web.members.mtbf", root.GetProperty("sensitivity")[0].GetProperty("input").GetString());
    }

    [Fact]
    public void Invoke_Table_NamesCalendarAndFigures()
    {
        var (exit, output, _) = CommandRunner.Run(CommandRunner.Example("web-shop.yaml"));
        Assert.Equal(0, exit);
        Assert.Contains("downtime per 365-day year", output);
        Assert.Contains("downtime per 30-day month", output);
        Assert.Contains("outages per year", output);
        Assert.Contains("db.failoverTime", output);
        Assert.Contains("P(k in 365d)", output);
    }

    [Fact]
    public void Invoke_YamlAndJsonOfSameModel_GiveSameAvailability()
    {
        var yaml = Json(CommandRunner.Run(CommandRunner.Example("web-shop.yaml"), "--json").Output);
        var json = Json(CommandRunner.Run(CommandRunner.Example("web-shop.json"), "--json").Output);
        Assert.Equal(yaml.GetProperty("availability").GetDouble(), json.GetProperty("availability").GetDouble(), 1e-15);
        Assert.Equal(yaml.GetProperty("missionReliability").GetDouble(), json.GetProperty("missionReliability").GetDouble(), 1e-15);
    }

    [Theory]
    [InlineData("three-node-quorum.yaml")]
    [InlineData("mixed-quorum.yaml")]
    [InlineData("series-chain.yaml")]
    [InlineData("web-shop.yaml")]
    [InlineData("disks-weibull.yaml")]
    public void Invoke_Simulate_IntervalContainsExact(string example)
    {
        var (exit, output, error) = CommandRunner.Run(CommandRunner.Example(example), "--json", "--simulate", "400000", "--seed", "11");
        Assert.True(exit == 0, error);
        var monteCarlo = Json(output).GetProperty("monteCarlo");
        Assert.True(monteCarlo.GetProperty("containsExact").GetBoolean(), output);
    }

    [Fact]
    public void Invoke_SimulateTable_PrintsIntervalBesideExact()
    {
        var (exit, output, _) = CommandRunner.Run(CommandRunner.Example("three-node-quorum.yaml"), "--simulate", "100000", "--seed", "5");
        Assert.Equal(0, exit);
        Assert.Contains("Monte Carlo: 100000 samples", output);
        Assert.Contains("contains the exact value 0.999702", output);
    }

    [Fact]
    public void Invoke_PoissonFromComponentRates_ListsOutageCounts()
    {
        // One component with 0.5 expected failures per period: P(0), P(1) as in the golden values.
        var (exit, output, _) = CommandRunner.RunOn("system: { failureRate: 0.0005, repairTime: 0 }\nperiod: 1000h\n", ".yaml", "--json");
        Assert.Equal(0, exit);
        var counts = Json(output).GetProperty("outageCountProbabilities");
        Assert.Equal(0.6065306597, counts[0].GetProperty("probability").GetDouble(), 1e-10);
        Assert.Equal(0.3032653299, counts[1].GetProperty("probability").GetDouble(), 1e-10);
    }

    [Fact]
    public void Invoke_MtbfMttrComponent_MatchesGolden()
    {
        var (_, output, _) = CommandRunner.RunOn("system: { mtbf: 3600, mttr: 1h }\n", ".yaml", "--json");
        Assert.Equal(0.99972229936, Json(output).GetProperty("availability").GetDouble(), 1e-10);
    }

    [Fact]
    public void Invoke_NoFile_ExitsTwo()
    {
        var (exit, _, error) = CommandRunner.Run();
        Assert.Equal(2, exit);
        Assert.Contains("FILE", error);
    }

    [Fact]
    public void Invoke_MissingFile_ExitsTwo()
    {
        var (exit, _, error) = CommandRunner.Run("/nonexistent/model.yaml");
        Assert.Equal(2, exit);
        Assert.Contains("cannot read", error);
    }
}
