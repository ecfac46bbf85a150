using System.Diagnostics;
using System.Globalization;
using System.Xml.Linq;
using CsCheck;
using Halo.Core.Availability;

namespace Halo.Core.Tests.Availability;

/// <summary>
/// Independent oracle: SCRAM (Debian package <c>scram</c>, exact BDD probability analysis) computes the
/// top-event probability of the same structures. SCRAM prints about six significant digits, so the
/// comparison is on unavailability with a relative tolerance of 2e-5.
/// </summary>
public sealed class ScramCrossCheckTests
{
    private const string Scram = "/usr/bin/scram";

    private static Component C(string name, double availability) => Component.FromAvailability(name, availability);

    public static TheoryData<string> Structures => ["series", "parallel", "two-of-three", "two-of-three-mixed", "nested", "ccf-parallel", "ccf-two-of-three", "web-shop-without-db"];

    [Theory]
    [MemberData(nameof(Structures))]
    public void Scram_GoldenStructure_AgreesWithHalo(string structure)
    {
        var block = structure switch
        {
            "series" => new SeriesBlock("s", [C("a", 0.999), C("b", 0.9995), C("c", 0.9999)]),
            "parallel" => new ParallelBlock("p", [C("a", 0.99), C("b", 0.95)]),
            "two-of-three" => KOfNBlock.Identical("k", 2, 3, C("n", 0.99)),
            "two-of-three-mixed" => new KOfNBlock("k", 2, [C("a", 0.99), C("b", 0.95), C("c", 0.90)]),
            "nested" => (Block)new SeriesBlock("s", [new ParallelBlock("p", [C("a", 0.9), new KOfNBlock("k", 2, [C("b", 0.8), C("c", 0.85), C("d", 0.95)])]), C("e", 0.999)]),
            "ccf-parallel" => new ParallelBlock("p", [C("a", 0.99), C("b", 0.99)], beta: 0.1),
            "ccf-two-of-three" => KOfNBlock.Identical("k", 2, 3, C("n", 0.99), beta: 0.1),
            _ => new SeriesBlock("shop", [
                new ParallelBlock("edge", [Component.FromMtbfMttr("lb-a", 8760, 4), Component.FromMtbfMttr("lb-b", 8760, 4)]),
                KOfNBlock.Identical("web", 2, 3, Component.FromMtbfMttr("web", 2000, 2), beta: 0.05)]),
        };

        AssertAgrees(block);
    }

    [Fact]
    public void Scram_RandomNestedStructures_AgreeWithHalo()
    {
        SkipWithoutScram();
        RandomBlock(depth: 3).Sample(AssertAgrees, iter: 25, threads: 1);
    }

    [Fact]
    public void Scram_MissionUnreliability_AgreesWithHaloReliability()
    {
        // No repair over a 720 h mission: SCRAM integrates exponential lifetimes at its mission time.
        var block = new SeriesBlock("shop", [
            new ParallelBlock("edge", [Component.FromMtbfMttr("lb-a", 8760, 4), Component.FromMtbfMttr("lb-b", 5000, 4)]),
            KOfNBlock.Identical("web", 2, 3, Component.FromMtbfMttr("web", 2000, 2), beta: 0.05),
            new KOfNBlock("db", 2, [Component.FromMtbfMttr("a", 3000, 8), Component.FromMtbfMttr("b", 4000, 8), Component.FromMtbfMttr("c", 6000, 8)])]);
        SkipWithoutScram();
        var expected = 1 - block.Reliability(720)!.Value;
        var actual = RunScram(OpenPsaWriter.Write(block, mission: true), "--mission-time", "720");
        Assert.True(Math.Abs(actual - expected) <= 2e-5 * expected, $"SCRAM {actual} vs Halo {expected}");
    }

    [Fact]
    public void Writer_StandbyPair_IsNotExpressibleAsStaticFaultTree()
    {
        Assert.Throws<NotSupportedException>(() => OpenPsaWriter.Write(new StandbyPairBlock("db", 0.001, 8, 0.01, 0.9, 0.5)));
    }

    private static void AssertAgrees(Block block)
    {
        SkipWithoutScram();
        var expected = block.Unavailability;
        var actual = RunScram(OpenPsaWriter.Write(block));
        Assert.True(Math.Abs(actual - expected) <= 2e-5 * expected + 1e-15, $"SCRAM {actual} vs Halo {expected}");
    }

    private static Gen<Block> RandomBlock(int depth)
    {
        var leaf = Gen.Double[0.5, 0.9999].Select(a => (Block)C("c", a));
        if (depth == 0)
        {
            return leaf;
        }

        var children = RandomBlock(depth - 1).Array[1, 4];
        return Gen.Frequency(
            (2, leaf),
            (1, children.Select(c => (Block)new SeriesBlock("s", c))),
            (1, children.Select(c => (Block)new ParallelBlock("p", c))),
            (1, Gen.Select(children, Gen.Int[1, 4], (c, k) => (Block)new KOfNBlock("k", Math.Min(k, c.Length), c))));
    }

    private static double RunScram(XDocument input, params string[] extra)
    {
        var directory = Directory.CreateTempSubdirectory("halo-scram-");
        try
        {
            var inputPath = Path.Combine(directory.FullName, "model.xml");
            var reportPath = Path.Combine(directory.FullName, "report.xml");
            input.Save(inputPath);
            var start = new ProcessStartInfo(Scram) { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var arg in new[] { inputPath, "--probability", "true", "--ccf", "true", "-o", reportPath }.Concat(extra))
            {
                start.ArgumentList.Add(arg);
            }

            using var process = Process.Start(start)!;
            var stderr = process.StandardError.ReadToEndAsync();
            _ = process.StandardOutput.ReadToEndAsync();
            Assert.True(process.WaitForExit(TimeSpan.FromSeconds(30)), "scram did not finish in 30 s");
            Assert.True(process.ExitCode == 0, $"scram failed: {stderr.Result}\n{input}");
            var top = XDocument.Load(reportPath).Descendants("sum-of-products").Single(e => (string?)e.Attribute("name") == "top");
            return double.Parse((string?)top.Attribute("probability") ?? "0", CultureInfo.InvariantCulture);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    private static void SkipWithoutScram()
    {
        if (!File.Exists(Scram))
        {
            Assert.Skip("SCRAM is not installed (Debian package scram)");
        }
    }
}
