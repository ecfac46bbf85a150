using System.Diagnostics;
using Halo.Chaos;

namespace Halo.Chaos.Tests;

/// <summary>
/// The CI subset of bench/chaos: 20 seeded trials, every fault kind at least twice, under stress-ng --cpu 2 for the whole run
/// (CPU starvation on a 2-core machine), real processes on 127.0.0.1. Any lost, unexpected or split-brain write, or a group that
/// does not settle, fails it with the replayable seed. scripts/test runs it on its own, after the rest of the suite, so the
/// starvation it causes does not disturb other tests.
/// </summary>
[Trait("Category", "Chaos")]
public sealed class ChaosSubsetTests(ITestOutputHelper output)
{
    public const int Seed = 1010;
    public const int Trials = 20;

    [Fact]
    public async Task TwentyTrials_SeededFaultsUnderCpuStarvation_NoDefect()
    {
        var work = Directory.CreateTempSubdirectory("halo-chaos-ci-").FullName;
        using var stress = Process.Start(new ProcessStartInfo("stress-ng", ["--cpu", "2", "--timeout", "900s", "--quiet"]) { UseShellExecute = false })
            ?? throw new InvalidOperationException("stress-ng is needed (scripts/test installs it)");
        try
        {
            var result = await ChaosRun.RunAsync(new ChaosOptions
            {
                HaloDll = Path.Combine(AppContext.BaseDirectory, "halo.dll"), WorkDirectory = work, Trials = Trials, Seed = Seed,
                Log = output.WriteLine,
            }, TestContext.Current.CancellationToken);
            foreach (var line in ChaosRun.Table(result))
            {
                output.WriteLine(line);
            }

            var defects = result.Check.Lost.Concat(result.Check.SplitBrains).Concat(result.Check.Unexpected).Take(20).Select(d => $"{d.Kind}: {d.Detail}");
            Assert.True(result.Clean, $"seed {Seed}: {result.Summary}, {result.Stuck} not settled; work {work}\n{string.Join("\n", defects)}");
            Assert.Equal(Trials, result.Trials.Count);
            Directory.Delete(work, recursive: true);
        }
        finally
        {
            stress.Kill(entireProcessTree: true);
            await stress.WaitForExitAsync(TestContext.Current.CancellationToken);
        }
    }
}
