using System.Globalization;

namespace Halo.Cli.Model;

/// <summary>Number and time formats shared by the model's table output.</summary>
internal static class Formatting
{
    // Small probabilities in scientific form so P(3 outages) does not print as 0.000000000001.
    public static string Probability(double p) => p is > 0 and < 1e-4
        ? p.ToString("0.######E+0", CultureInfo.InvariantCulture)
        : p.ToString("0.############", CultureInfo.InvariantCulture);

    public static string Number(double x, string format = "0.###") => x.ToString(format, CultureInfo.InvariantCulture);

    public static string Nines(double nines) => double.IsPositiveInfinity(nines) ? "∞" : Number(nines, "0.00");

    /// <summary>"52.56 min (52m 34s)": exact minutes for checking, a readable form for people.</summary>
    public static string Minutes(double minutes) => $"{Number(minutes, "0.####")} min ({Human(TimeSpan.FromMinutes(minutes))})";

    public static string Hours(double hours) => Human(TimeSpan.FromHours(hours));

    public static string Human(TimeSpan t)
    {
        if (t < TimeSpan.FromSeconds(1))
        {
            return $"{Number(t.TotalMilliseconds, "0.#")}ms";
        }

        var parts = new List<string>();
        if (t.Days > 0)
        {
            parts.Add($"{t.Days}d");
        }

        if (t.Hours > 0)
        {
            parts.Add($"{t.Hours}h");
        }

        if (t.Minutes > 0)
        {
            parts.Add($"{t.Minutes}m");
        }

        if (t.Seconds > 0 || parts.Count == 0)
        {
            parts.Add($"{t.Seconds}s");
        }

        return string.Join(" ", parts.Take(3));
    }
}
