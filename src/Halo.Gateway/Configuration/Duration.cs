using System.Globalization;

namespace Halo.Gateway.Configuration;

/// <summary>Parses durations the way the control-plane API writes them: "250ms", "3s", "1m", "1h", or a number of seconds.</summary>
public static class Duration
{
    /// <summary>Tries to parse <paramref name="text"/>.</summary>
    public static bool TryParse(string? text, out TimeSpan value)
    {
        value = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        text = text.Trim();
        var (number, scale) = text switch
        {
            _ when text.EndsWith("ms", StringComparison.Ordinal) => (text[..^2], 0.001),
            _ when text.EndsWith('s') => (text[..^1], 1.0),
            _ when text.EndsWith('m') => (text[..^1], 60.0),
            _ when text.EndsWith('h') => (text[..^1], 3600.0),
            _ => (text, 1.0),
        };

        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) || n < 0 || double.IsInfinity(n))
        {
            return false;
        }

        value = TimeSpan.FromSeconds(n * scale);
        return true;
    }
}
