using Halo.Core;
using System.Text.Json;
using System.Text.Json.Serialization;
using Halo.Cli.Configuration;
using Spectre.Console;

namespace Halo.Cli.Model;

/// <summary>Renders <see cref="ConfigPrediction"/> as tables or JSON (durations in milliseconds).</summary>
internal static class PredictionRenderer
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static void WriteJson(TextWriter output, ConfigPrediction prediction)
    {
        var document = new
        {
            Detection = prediction.Detection.Select(d => new
            {
                d.Scope,
                d.Kind,
                BoundMs = d.Bound.TotalMilliseconds,
                PauseBudgetMs = d.PauseBudget.TotalMilliseconds,
                Terms = d.Terms.Select(Term),
            }),
            Failover = prediction.Failover.Where(f => f.Fault is null).Select(f => new { f.Group, TotalMs = f.Total.TotalMilliseconds, Terms = f.Terms.Select(Term) }),
            Faults = prediction.Failover.Where(f => f.Fault is not null).Select(f => new
            {
                f.Group, f.Fault, FirstWriteMs = f.Terms.Count == 0 ? (double?)null : f.Total.TotalMilliseconds, Terms = f.Terms.Select(Term),
            }),
            prediction.Notes,
        };
        output.WriteLine(JsonSerializer.Serialize(document, Json));
    }

    public static void WriteTable(TextWriter output, ConfigPrediction prediction)
    {
        var console = Consoles.For(output);
        foreach (var d in prediction.Detection)
        {
            console.WriteLine($"Detection bound, {d.Scope} ({d.Kind}): {Durations.Format(d.Bound)} worst case; heartbeat gaps under {Durations.Format(d.PauseBudget)} never mark an instance down");
            console.Write(Terms(d.Terms, withPhase: false));
        }

        foreach (var f in prediction.Failover)
        {
            if (f.Fault is not null)
            {
                console.WriteLine(f.Terms.Count == 0
                    ? $"Fault {f.Fault}, group {f.Group}: no write refused"
                    : $"Fault {f.Fault}, group {f.Group}: {Durations.Format(f.Total)} to the first acknowledged write (typical, not worst case)");
                if (f.Terms.Count > 0)
                {
                    console.Write(Terms(f.Terms, withPhase: true));
                }

                continue;
            }

            console.WriteLine($"Failover budget, group {f.Group}: {Durations.Format(f.Total)} = detection + decision + promotion + re-routing");
            console.Write(Terms(f.Terms, withPhase: true));
        }

        foreach (var note in prediction.Notes)
        {
            console.WriteLine(note);
        }
    }

    private static object Term(SourcedTerm t) => new { t.Phase, t.Name, ValueMs = t.Value.TotalMilliseconds, t.Explanation, t.Sources };

    private static Table Terms(IReadOnlyList<SourcedTerm> terms, bool withPhase)
    {
        var table = new Table();
        if (withPhase)
        {
            table.AddColumn("phase");
        }

        table.AddColumn("term").AddColumn("time").AddColumn("from").AddColumn("why");
        foreach (var t in terms)
        {
            var cells = new List<string>();
            if (withPhase)
            {
                cells.Add(t.Phase);
            }

            cells.AddRange([t.Name, Durations.Format(t.Value), t.Sources.Length == 0 ? "-" : t.Sources, t.Explanation]);
            table.AddRow([.. cells.Select(Markup.Escape)]);
        }

        return table;
    }
}
