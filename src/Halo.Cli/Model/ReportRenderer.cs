using System.Text.Json;
using System.Text.Json.Serialization;
using Halo.Core.Availability;
using Spectre.Console;

namespace Halo.Cli.Model;

/// <summary>Renders an <see cref="AvailabilityReport"/> as a table or as JSON.</summary>
internal static class ReportRenderer
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static void WriteJson(TextWriter output, AvailabilityReport report, MonteCarloResult? simulation)
    {
        var document = new
        {
            report.Name,
            report.Availability,
            Unavailability = 1 - report.Availability,
            Nines = double.IsFinite(report.Nines) ? report.Nines : (double?)null,
            Calendar = "365-day year (8760 h), 30-day month (720 h)",
            report.DowntimeMinutesPerYear,
            report.DowntimeMinutesPerMonth,
            report.OutagesPerYear,
            report.MeanOutageHours,
            report.PeriodHours,
            OutageCountProbabilities = report.OutageCountProbabilities?.Select((p, k) => new { K = k, Probability = p }),
            report.MissionHours,
            report.MissionReliability,
            report.Sensitivity,
            MonteCarlo = simulation is null ? null : new
            {
                simulation.Trials,
                simulation.Estimate,
                simulation.Lower,
                simulation.Upper,
                simulation.Confidence,
                ContainsExact = simulation.Contains(report.Availability),
            },
        };
        output.WriteLine(JsonSerializer.Serialize(document, Json));
    }

    public static void WriteTable(TextWriter output, AvailabilityReport report, MonteCarloResult? simulation)
    {
        var console = Consoles.For(output);
        console.WriteLine($"Availability model: {report.Name}");
        var summary = new Table().AddColumn("figure").AddColumn("value");
        summary.AddRow("availability", Formatting.Probability(report.Availability));
        summary.AddRow("nines", Formatting.Nines(report.Nines));
        summary.AddRow("downtime per 365-day year", Markup.Escape(Formatting.Minutes(report.DowntimeMinutesPerYear)));
        summary.AddRow("downtime per 30-day month", Markup.Escape(Formatting.Minutes(report.DowntimeMinutesPerMonth)));
        summary.AddRow("outages per year", report.OutagesPerYear is { } f ? Formatting.Number(f, "G4") : "n/a (a component has no MTBF/MTTR)");
        summary.AddRow("mean outage duration", report.MeanOutageHours is { } d ? Formatting.Hours(d) : "n/a");
        summary.AddRow($"mission reliability, {Formatting.Hours(report.MissionHours)} without repair",
            report.MissionReliability is { } r ? Formatting.Probability(r) : "n/a (a component has no lifetime)");
        console.Write(summary);

        if (report.OutageCountProbabilities is { } counts)
        {
            var poisson = new Table().AddColumn("outages k").AddColumn($"P(k in {Formatting.Hours(report.PeriodHours)})");
            for (var k = 0; k < counts.Count; k++)
            {
                poisson.AddRow(k.ToString(System.Globalization.CultureInfo.InvariantCulture), Formatting.Probability(counts[k]));
            }

            console.Write(poisson);
        }

        if (report.Sensitivity.Count > 0)
        {
            var sensitivity = new Table().AddColumn("input").AddColumn("change").AddColumn("availability").AddColumn("downtime saved / year");
            foreach (var row in report.Sensitivity)
            {
                sensitivity.AddRow(Markup.Escape(row.Input), Markup.Escape(row.Change), Formatting.Probability(row.Availability),
                    Markup.Escape(Formatting.Minutes(row.DowntimeSavedMinutesPerYear)));
            }

            console.Write(sensitivity);
        }

        if (simulation is not null)
        {
            var verdict = simulation.Contains(report.Availability) ? "contains the exact value" : "DOES NOT contain the exact value";
            console.WriteLine(
                $"Monte Carlo: {simulation.Trials} samples, estimate {Formatting.Probability(simulation.Estimate)}, " +
                $"{Formatting.Number(simulation.Confidence * 100, "0")}% interval [{Formatting.Probability(simulation.Lower)}, {Formatting.Probability(simulation.Upper)}] {verdict} " +
                $"{Formatting.Probability(report.Availability)}");
        }

        console.WriteLine("Assumes independent failures (except declared beta factors), exponential lifetimes for rates, steady state.");
    }
}

/// <summary>Spectre consoles bound to an injected writer, so tests capture plain text.</summary>
internal static class Consoles
{
    public static IAnsiConsole For(TextWriter writer)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(writer),
        });
        console.Profile.Width = 132;
        return console;
    }
}
