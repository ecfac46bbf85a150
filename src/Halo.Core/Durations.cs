using System.Globalization;

namespace Halo.Core;

/// <summary>Parses and formats the human durations used in configs and the API: "250ms", "3s", "1.5m", "2h", or plain seconds.</summary>
public static class Durations
{
    public static bool TryParse(string? text, out TimeSpan value)
    {
        value = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var s = text.Trim();
        (string unit, double scale)[] units = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)];
        foreach (var (unit, scale) in units)
        {
            // "ms" is checked before "s" and "m" so "250ms" is not read as 250 m followed by junk.
            if (s.EndsWith(unit, StringComparison.OrdinalIgnoreCase) &&
                double.TryParse(s[..^unit.Length], NumberStyles.Float, CultureInfo.InvariantCulture, out var n))
            {
                return TryFromMilliseconds(n * scale, out value);
            }
        }

        return double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) &&
               TryFromMilliseconds(seconds * 1000, out value);
    }

    public static TimeSpan Parse(string text) =>
        TryParse(text, out var value) ? value : throw new FormatException($"'{text}' is not a duration (examples: 250ms, 3s, 1m)");

    /// <summary>Shortest exact form: 250ms, 3s, 1.5s, 2m.</summary>
    public static string Format(TimeSpan value)
    {
        var ms = value.TotalMilliseconds;
        if (ms != 0 && ms % 60_000 == 0)
        {
            return (ms / 60_000).ToString(CultureInfo.InvariantCulture) + "m";
        }

        if (ms >= 1000 || ms == 0)
        {
            return (ms / 1000).ToString("0.###", CultureInfo.InvariantCulture) + "s";
        }

        return ms.ToString("0.###", CultureInfo.InvariantCulture) + "ms";
    }

    private static bool TryFromMilliseconds(double ms, out TimeSpan value)
    {
        value = default;
        if (double.IsNaN(ms) || double.IsInfinity(ms) || Math.Abs(ms) > TimeSpan.MaxValue.TotalMilliseconds / 2)
        {
            return false;
        }

        value = TimeSpan.FromMilliseconds(ms);
        return true;
    }
}
