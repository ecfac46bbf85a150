using System.Globalization;
using System.Text.Json;

namespace FailoverBench;

/// <summary>One system's (or one setting's) run: what the bench prints as a JSON line and <see cref="Compare"/> reads back.</summary>
internal sealed record RunSummary(
    string System, string Mode, int Trials, int Completed, double MedianMs, double MaxMs, double MinMs, int TargetWritesPerSecond,
    double AckedWritesPerSecond, long Attempted, long Acknowledged, long Failed, long Lost, int UnplannedSwitches, double[] SamplesMs);

/// <summary>Prints the runs of one results file side by side, each with its median and max as a multiple of Halo's.</summary>
internal static class Compare
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    public static void Print(IEnumerable<string> lines)
    {
        var runs = lines.Where(l => l.StartsWith('{')).Select(l => JsonSerializer.Deserialize<RunSummary>(l, Json)!).ToList();
        var halo = runs.FirstOrDefault(r => r.Mode == "halo");
        Console.WriteLine("| system | trials | target writes/s | acknowledged writes/s | writes acknowledged | median kill → first acknowledged write | max | min | median / Halo's | max / Halo's | acknowledged writes lost | failovers without a kill |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in runs)
        {
            string Ratio(double value, double? baseline) => baseline is > 0 ? (value / baseline.Value).ToString("0.0", CultureInfo.InvariantCulture) + "×" : "–";
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.System} | {r.Completed}/{r.Trials} | {r.TargetWritesPerSecond} | {r.AckedWritesPerSecond:0} | {r.Acknowledged:N0} | {r.MedianMs:0} ms | {r.MaxMs:0} ms | {r.MinMs:0} ms | {Ratio(r.MedianMs, halo?.MedianMs)} | {Ratio(r.MaxMs, halo?.MaxMs)} | {r.Lost} | {r.UnplannedSwitches} |"));
        }

        foreach (var r in runs)
        {
            Console.WriteLine($"{r.System} samples (ms): {string.Join(' ', r.SamplesMs.Select(s => s.ToString("0.0", CultureInfo.InvariantCulture)))}");
        }
    }
}
