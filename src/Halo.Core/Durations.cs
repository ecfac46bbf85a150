using System.Globalization;

namespace Halo.Core;

/// <summary>
/// Durations as people write them in configs, query strings and JSON: "250ms", "3s", "1m", "2h", "1d", "1y" (365 days),
/// or compound "1h30m". Minutes are "m"; there is no month unit because month lengths differ. One parser for every input.
/// </summary>
public static class Durations
{
    private static readonly (string Suffix, TimeSpan Unit)[] Units =
    [
        ("ms", TimeSpan.FromMilliseconds(1)),
        ("s", TimeSpan.FromSeconds(1)),
        ("m", TimeSpan.FromMinutes(1)),
        ("h", TimeSpan.FromHours(1)),
        ("d", TimeSpan.FromDays(1)),
        ("w", TimeSpan.FromDays(7)),
        ("y", TimeSpan.FromDays(365)),
    ];

    /// <summary>Parses a non-negative duration; false for anything else (no sign, no bare numbers).</summary>
    public static bool TryParse(string? text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        var rest = (text ?? string.Empty).Trim();
        if (rest.Length == 0)
        {
            return false;
        }

        var total = 0.0;
        while (rest.Length > 0)
        {
            var digits = 0;
            while (digits < rest.Length && (char.IsAsciiDigit(rest[digits]) || rest[digits] == '.'))
            {
                digits++;
            }

            if (digits == 0 || !double.TryParse(rest[..digits], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var amount))
            {
                return false;
            }

            rest = rest[digits..];
            // "ms" is listed before "m", so the first prefix match is the right unit.
            var unit = Units.Where(u => rest.StartsWith(u.Suffix, StringComparison.Ordinal))
                .Select(u => ((string Suffix, TimeSpan Unit)?)u)
                .FirstOrDefault();
            if (unit is null)
            {
                return false;
            }

            total += amount * unit.Value.Unit.TotalMilliseconds;
            rest = rest[unit.Value.Suffix.Length..];
        }

        if (total > TimeSpan.MaxValue.TotalMilliseconds / 2)
        {
            return false;
        }

        value = TimeSpan.FromMilliseconds(total);
        return true;
    }

    /// <summary>As <see cref="TryParse(string?, out TimeSpan)"/>, and a bare non-negative number is seconds (as JSON numbers and the gateway file allow).</summary>
    public static bool TryParseOrSeconds(string? text, out TimeSpan value)
    {
        if (TryParse(text, out value))
        {
            return true;
        }

        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) &&
            seconds >= 0 && seconds < TimeSpan.MaxValue.TotalSeconds / 2)
        {
            value = TimeSpan.FromSeconds(seconds);
            return true;
        }

        return false;
    }

    public static TimeSpan Parse(string text) =>
        TryParse(text, out var value) ? value : throw new FormatException($"'{text}' is not a duration (examples: 250ms, 3s, 1m)");

    /// <summary>Short human form: "250ms", "1.5s", "2m", "1h".</summary>
    public static string Format(TimeSpan t) =>
        t == TimeSpan.Zero ? "0s"
        : t.TotalDays >= 1 ? string.Create(CultureInfo.InvariantCulture, $"{t.TotalDays:0.###}d")
        : t.TotalHours >= 1 ? string.Create(CultureInfo.InvariantCulture, $"{t.TotalHours:0.###}h")
        : t.TotalMinutes >= 1 ? string.Create(CultureInfo.InvariantCulture, $"{t.TotalMinutes:0.###}m")
        : t.TotalSeconds >= 1 ? string.Create(CultureInfo.InvariantCulture, $"{t.TotalSeconds:0.###}s")
        : string.Create(CultureInfo.InvariantCulture, $"{t.TotalMilliseconds:0.###}ms");
}
