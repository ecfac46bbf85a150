using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Halo.IntegrationTests.Monitoring;

/// <summary>The alert rules in deploy/prometheus are valid and unit-tested, checked by the real promtool so CI runs them.</summary>
public sealed partial class PrometheusRulesTests(ITestOutputHelper output)
{
    private const string Promtool = "/usr/bin/promtool";
    private static string RulesDirectory => Path.Combine(RepoPaths.Root, "deploy", "prometheus");

    [Fact]
    public async Task CheckRules_AlertRulesFile_Valid()
    {
        var (code, text) = await RunPromtoolAsync("check", "rules", "halo-alerts.yml");

        Assert.True(code == 0, text);
        Assert.Contains("SUCCESS", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TestRules_UnitTests_AllPass()
    {
        var (code, text) = await RunPromtoolAsync("test", "rules", "halo-alerts.test.yml");

        Assert.True(code == 0, text);
    }

    [Fact]
    public async Task CheckConfig_ExampleConfig_Valid()
    {
        // promtool checks that the scrape's credentials file exists: check a copy that points at a real one.
        var dir = HaloProcess.TempDirectory("promcheck");
        var token = Path.Combine(dir, "halo.token");
        await File.WriteAllTextAsync(token, "halo_" + new string('x', 43));
        File.Copy(Path.Combine(RulesDirectory, "halo-alerts.yml"), Path.Combine(dir, "halo-alerts.yml"));
        var config = (await File.ReadAllTextAsync(Path.Combine(RulesDirectory, "prometheus.yml"))).Replace("/etc/prometheus/halo.token", token, StringComparison.Ordinal);
        Assert.Contains(token, config, StringComparison.Ordinal);
        await File.WriteAllTextAsync(Path.Combine(dir, "prometheus.yml"), config);

        var (code, text) = await RunPromtoolAsync("check", "config", Path.Combine(dir, "prometheus.yml"));

        Assert.True(code == 0, text);
    }

    [Fact]
    public async Task RulesFile_EveryAlert_HasAUnitTest()
    {
        var rules = AlertName().Matches(await File.ReadAllTextAsync(Path.Combine(RulesDirectory, "halo-alerts.yml"))).Select(m => m.Groups[1].Value).ToHashSet();
        var tested = TestedName().Matches(await File.ReadAllTextAsync(Path.Combine(RulesDirectory, "halo-alerts.test.yml"))).Select(m => m.Groups[1].Value).ToHashSet();

        Assert.NotEmpty(rules);
        Assert.Empty(rules.Except(tested));
    }

    [Theory]
    [InlineData("deploy/prometheus/halo-alerts.yml")]
    [InlineData("deploy/grafana/halo-dashboard.json")]
    public async Task MetricNames_UsedByRulesAndDashboard_DocumentedInMetricsReference(string file)
    {
        var reference = await File.ReadAllTextAsync(Path.Combine(RepoPaths.Root, "docs", "metrics.md"));
        var used = MetricName().Matches(await File.ReadAllTextAsync(Path.Combine(RepoPaths.Root, file)))
            .Select(m => m.Value).Select(n => BucketSuffix().Replace(n, "")).ToHashSet();

        Assert.NotEmpty(used);
        var undocumented = used.Where(n => !reference.Contains($"`{n}`", StringComparison.Ordinal)).ToList();
        Assert.True(undocumented.Count == 0, $"not in docs/metrics.md: {string.Join(", ", undocumented)}");
    }

    private async Task<(int Code, string Text)> RunPromtoolAsync(params string[] args)
    {
        if (!File.Exists(Promtool))
        {
            Assert.Skip("promtool is not installed (apt-get install prometheus)");
        }

        var info = new ProcessStartInfo(Promtool) { WorkingDirectory = RulesDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(cts.Token);
        var text = await stdout + await stderr;
        output.WriteLine($"promtool {string.Join(' ', args)} -> {process.ExitCode}\n{text}");
        return (process.ExitCode, text);
    }

    [GeneratedRegex(@"^\s*-\s*alert:\s*(\S+)", RegexOptions.Multiline)]
    private static partial Regex AlertName();

    [GeneratedRegex(@"\bhalo_[a-z_]+")]
    private static partial Regex MetricName();

    [GeneratedRegex(@"_(bucket|sum|count)$")]
    private static partial Regex BucketSuffix();

    [GeneratedRegex(@"^\s*alertname:\s*(\S+)", RegexOptions.Multiline)]
    private static partial Regex TestedName();
}
