using System.CommandLine;
using Halo.Cli.Configuration;
using Halo.Core.Availability;

namespace Halo.Cli.Model;

/// <summary><c>halo model</c>: availability of a topology, or failover predictions from a Halo config.</summary>
public static class ModelCommand
{
    /// <summary>Exit code for input the user must fix (bad file, bad field, bad option value).</summary>
    public const int BadInput = 2;

    public static Command Create()
    {
        var file = new Argument<string?>("FILE") { Description = "Topology file (YAML or JSON)", Arity = ArgumentArity.ZeroOrOne };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON" };
        // Numbers are taken as text and parsed here so a bad value exits 2 with our message, like every
        // other bad input, instead of the parser's generic error.
        var simulate = new Option<string?>("--simulate") { Description = "Monte Carlo cross-check with N samples" };
        var seed = new Option<string?>("--seed") { Description = "Seed for --simulate (default 1)" };
        var fromConfig = new Option<string?>("--from-config") { Description = "Predict detection and failover times from a Halo config file" };
        var command = new Command("model", "Availability arithmetic: topology reports, and failover-time predictions from a config")
        {
            file, json, simulate, seed, fromConfig,
        };
        command.SetAction(result =>
        {
            var output = result.InvocationConfiguration.Output;
            var error = result.InvocationConfiguration.Error;
            var configPath = result.GetValue(fromConfig);
            var path = configPath ?? result.GetValue(file);
            try
            {
                if (path is null)
                {
                    throw new InputException("give a topology FILE, or --from-config FILE");
                }

                return configPath is not null
                    ? FromConfig(configPath, result.GetValue(json), output)
                    : Topology(path, result.GetValue(json), Trials(result.GetValue(simulate)), Seed(result.GetValue(seed)), output);
            }
            catch (InputException e)
            {
                // file:line: field: message — the form editors and CI annotations recognise.
                error.WriteLine(e.Line > 0 ? $"error: {path}:{e.Line}: {e.Field}: {e.Detail}" : $"error: {e.Message}");
                return BadInput;
            }
        });
        return command;
    }

    private static int Topology(string path, bool json, long? trials, int seed, TextWriter output)
    {
        var topology = TopologyLoader.Load(ReadFile(path), IsJson(path));
        var report = AvailabilityReport.Build(topology.System, topology.Options) with { Name = topology.Name };
        var simulation = trials is { } n ? MonteCarloSimulation.Run(topology.System, n, new Random(seed)) : null;

        if (json)
        {
            ReportRenderer.WriteJson(output, report, simulation);
        }
        else
        {
            ReportRenderer.WriteTable(output, report, simulation);
        }

        return 0;
    }

    private static int FromConfig(string path, bool json, TextWriter output)
    {
        var prediction = ConfigPrediction.Build(HaloConfigLoader.Load(ReadFile(path), IsJson(path)));
        if (json)
        {
            PredictionRenderer.WriteJson(output, prediction);
        }
        else
        {
            PredictionRenderer.WriteTable(output, prediction);
        }

        return 0;
    }

    private static long? Trials(string? text) =>
        text is null ? null
        : long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= 1_000_000_000 ? n
        : throw new InputException($"--simulate: '{text}' must be a whole number of samples between 1 and 1000000000");

    private static int Seed(string? text) =>
        text is null ? 1
        : int.TryParse(text, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var seed) ? seed
        : throw new InputException($"--seed: '{text}' must be a whole number");

    private static bool IsJson(string path) => path.EndsWith(".json", StringComparison.OrdinalIgnoreCase);

    private static string ReadFile(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new InputException($"cannot read '{path}': {e.Message}");
        }
    }
}
