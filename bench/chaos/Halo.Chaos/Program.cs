using System.Globalization;
using Halo.Chaos;
using Halo.Core.Availability;

// bench/chaos/run.sh --trials N --seed S [--kinds a,b] [--work DIR] [--halo halo.dll]
// Prints the seed first (replay a failure with the same seed), one line per trial, a table per fault kind, then one summary
// line; exits 1 on any defect (lost, split brain, unexpected, or a group that did not settle).
var options = new Dictionary<string, string>(StringComparer.Ordinal);
for (var i = 0; i + 1 < args.Length; i += 2)
{
    options[args[i].TrimStart('-')] = args[i + 1];
}

int Int(string name, int fallback) => options.TryGetValue(name, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
var seed = Int("seed", (int)(TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds() % 1_000_000));
var kinds = options.TryGetValue("kinds", out var list)
    ? list.Split(',').Select(k => FaultPlan.TryParse(k, out var kind) ? kind : throw new ArgumentException($"--kinds: unknown fault '{k}'")).ToList()
    : Enum.GetValues<FaultKind>().ToList();
var root = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../../.."));
var run = new ChaosOptions
{
    HaloDll = options.GetValueOrDefault("halo") ?? Path.Combine(root, "src/Halo.Cli/bin/Release/net10.0/halo.dll"),
    WorkDirectory = options.GetValueOrDefault("work") ?? Directory.CreateTempSubdirectory("halo-chaos-").FullName,
    Trials = Int("trials", 200),
    Seed = seed,
    Kinds = kinds,
};

Console.WriteLine($"seed {seed}");
var result = await ChaosRun.RunAsync(run, CancellationToken.None);
foreach (var line in ChaosRun.Table(result))
{
    Console.WriteLine(line);
}

foreach (var d in result.Check.Lost.Concat(result.Check.SplitBrains).Concat(result.Check.Unexpected).Take(50))
{
    Console.WriteLine($"DEFECT {d.Kind}: {d.Detail}");
}

Console.WriteLine($"seed {seed}; {result.Writes} writes, {result.Acked} acknowledged; availability {result.Availability:P2} of seconds with an acknowledged write; " +
                  $"{result.Stuck} trials that did not settle; {result.Duration.TotalMinutes:0.0} min");
Console.WriteLine(result.Summary);
return result.Clean ? 0 : 1;
