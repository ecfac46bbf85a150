namespace Halo.Cli.Tests.Model;

/// <summary>Every bad input exits 2 with "file:line: field: message".</summary>
public sealed class BadTopologyTests
{
    [Theory]
    [InlineData("system:\n  type: star\n  of: [{ availability: 0.9 }]\n", 2, "system.type", "unknown block type 'star'")]
    [InlineData("system:\n  type: series\n  of:\n    - { availability: 1.2 }\n", 4, "system.of[0].availability", "outside [0, 1]")]
    [InlineData("system:\n  type: series\n  of:\n    - { availability: -0.1 }\n", 4, "system.of[0].availability", "outside [0, 1]")]
    [InlineData("system:\n  type: kofn\n  k: 4\n  n: 3\n  component: { availability: 0.9 }\n", 3, "system.k", "k = 4 exceeds n = 3")]
    [InlineData("system: { mtbf: 100h, mttr: -2h }\n", 1, "system.mttr", "negative")]
    [InlineData("system: { mtbf: 100h, mttr: \"-2\" }\n", 1, "system.mttr", "non-negative")]
    [InlineData("system: a\nblocks:\n  a: { type: series, of: [b] }\n  b: { type: parallel, of: [a, { availability: 0.9 }] }\n", 4, "blocks.b.of[0]", "cycle: a → b → a")]
    [InlineData("system: a\nblocks:\n  a: { type: series, of: [zzz] }\n", 3, "blocks.a.of[0]", "no block named 'zzz'")]
    [InlineData("system:\n  type: parallel\n  of: [{ availability: 0.9 }]\n  colour: red\n", 4, "system.colour", "unknown field")]
    [InlineData("system: { availability: 0.9, mtbf: 10h }\n", 1, "system.mtbf", "exactly one of")]
    [InlineData("system:\n  type: parallel\n  beta: 0.1\n  of: [{ availability: 0.9 }, { availability: 0.8 }]\n", 3, "system.beta", "identical components")]
    [InlineData("system:\n  type: standby\n  unit: { mtbf: 1000h, mttr: 4h }\n  failoverTime: 30s\n  coverage: 0.9\n", 2, "system.manualRecovery", "required when coverage < 1")]
    [InlineData("system:\n  type: standby\n  unit: { mtbf: 1000h, mttr: 4h }\n  failoverTime: soon\n", 4, "system.failoverTime", "not a duration")]
    [InlineData("system:\n  type: series\n  of: [\n", 4, "(syntax)", "")]
    [InlineData("period: 1y\n", 1, "system", "required")]
    [InlineData("system:\n  type: series\n  of: [&x { availability: 0.9 }, *x]\n", 3, "system.of[1]", "YAML alias")]
    [InlineData("system:\n  type: series\n  of: [{ availability: 0.9 }]\n  of: [{ availability: 0.8 }]\n", 4, "of", "duplicate field")]
    [InlineData("system:\n  type: standby\n  unit: { availability: 0.9 }\n  failoverTime: 1s\n", 3, "system.unit.availability", "needs mtbf + mttr")]
    [InlineData("system:\n  type: kofn\n  k: 2\n  n: 4\n  of: [{ availability: 0.9 }, { availability: 0.9 }, { availability: 0.9 }]\n", 4, "system.n", "n = 4 but 'of' lists 3")]
    public void Invoke_BadTopology_ExitsTwoNamingLineAndField(string yaml, int line, string field, string message)
    {
        var (exit, output, error) = CommandRunner.RunOn(yaml, ".yaml");
        Assert.Equal(2, exit);
        Assert.Equal(string.Empty, output);
        Assert.Contains($":{line}: {field}: ", error);
        Assert.Contains(message, error);
    }

    [Fact]
    public void Invoke_BadJson_NamesLine()
    {
        var json = "{\n\t\"system\": {\n\t\t\"type\": \"kofn\",\n\t\t\"k\": 5,\n\t\t\"of\": [ { \"availability\": 0.9 } ]\n\t}\n}\n";
        var (exit, _, error) = CommandRunner.RunOn(json, ".json");
        Assert.Equal(2, exit);
        Assert.Contains(":4: system.k: k = 5 exceeds n = 1", error);
    }

    [Fact]
    public void Invoke_SharedBlock_IsRejectedAsNotIndependent()
    {
        var (exit, _, error) = CommandRunner.RunOn("system: a\nblocks:\n  a: { type: series, of: [p, p] }\n  p: { availability: 0.9 }\n", ".yaml");
        Assert.Equal(2, exit);
        Assert.Contains("not independent", error);
    }

    [Theory]
    [InlineData("--simulate", "0")]
    [InlineData("--simulate", "many")]
    [InlineData("--seed", "x")]
    public void Invoke_BadSimulationOption_ExitsTwo(string option, string value)
    {
        string[] args = option == "--simulate" ? [option, value] : ["--simulate", "10", option, value];
        var (exit, _, error) = CommandRunner.RunOn("system: { availability: 0.9 }\n", ".yaml", args);
        Assert.Equal(2, exit);
        Assert.Contains(option, error);
    }
}
