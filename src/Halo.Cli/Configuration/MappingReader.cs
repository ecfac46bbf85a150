using Halo.Core;
using System.Globalization;
using YamlDotNet.RepresentationModel;

namespace Halo.Cli.Configuration;

/// <summary>
/// Reads the fields of one YAML/JSON mapping with range checks, turning every problem into an
/// <see cref="InputException"/> that names the line and the dotted field path. Remembers which keys
/// were read so unknown (typically misspelled) keys are rejected rather than silently ignored.
/// </summary>
public sealed class MappingReader
{
    private readonly Dictionary<string, (YamlNode Key, YamlNode Value)> _fields = new(StringComparer.Ordinal);
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);

    public MappingReader(YamlMappingNode node, string path)
    {
        ArgumentNullException.ThrowIfNull(node);
        Node = node;
        Path = path;
        foreach (var (key, value) in node.Children)
        {
            var name = key is YamlScalarNode scalar ? scalar.Value ?? string.Empty : string.Empty;
            if (!_fields.TryAdd(name, (key, value)))
            {
                throw new InputException(YamlInput.Line(key), FieldPath(name), "duplicate field");
            }
        }
    }

    public YamlMappingNode Node { get; }

    /// <summary>Dotted path of this mapping ("" at the root).</summary>
    public string Path { get; }

    public int Line => YamlInput.Line(Node);

    public IEnumerable<string> Keys => _fields.Keys;

    public string FieldPath(string key) => Path.Length == 0 ? key : $"{Path}.{key}";

    public bool Has(string key) => _fields.ContainsKey(key);

    /// <summary>Line of a field's value, or of the mapping when the field is absent.</summary>
    public int LineOf(string key) => _fields.TryGetValue(key, out var f) ? YamlInput.Line(f.Value) : Line;

    public InputException Error(string key, string message) => new(LineOf(key), FieldPath(key), message);

    public YamlNode? Value(string key)
    {
        if (!_fields.TryGetValue(key, out var field))
        {
            return null;
        }

        _read.Add(key);
        return field.Value;
    }

    public string? String(string key)
    {
        var node = Value(key);
        if (node is null)
        {
            return null;
        }

        return node is YamlScalarNode { Value: { } text } ? text : throw Error(key, "expected a single value");
    }

    public MappingReader? Mapping(string key)
    {
        var node = Value(key);
        return node switch
        {
            null => null,
            YamlMappingNode mapping => new MappingReader(mapping, FieldPath(key)),
            _ => throw Error(key, "expected a mapping of fields"),
        };
    }

    public YamlSequenceNode? Sequence(string key)
    {
        var node = Value(key);
        return node switch
        {
            null => null,
            YamlSequenceNode sequence => sequence,
            _ => throw Error(key, "expected a list"),
        };
    }

    public double? Number(string key, double min = double.NegativeInfinity, double max = double.PositiveInfinity)
    {
        var text = String(key);
        if (text is null)
        {
            return null;
        }

        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
        {
            throw Error(key, $"'{text}' is not a number");
        }

        if (value < min || value > max)
        {
            throw Error(key, string.Create(CultureInfo.InvariantCulture, $"{value} is out of range [{min}, {max}]"));
        }

        return value;
    }

    /// <summary>A probability in [0, 1], written as 0.999 or as a percentage "99.9%".</summary>
    public double? Probability(string key)
    {
        var text = String(key);
        if (text is null)
        {
            return null;
        }

        var percent = text.EndsWith('%');
        var number = percent ? text[..^1] : text;
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
        {
            throw Error(key, $"'{text}' is not a probability");
        }

        value = percent ? value / 100 : value;
        return value is >= 0 and <= 1 ? value : throw Error(key, $"{text} is outside [0, 1]");
    }

    public int? Integer(string key, int min, int max)
    {
        var text = String(key);
        if (text is null)
        {
            return null;
        }

        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
        {
            throw Error(key, $"'{text}' is not a whole number");
        }

        return value >= min && value <= max
            ? value
            : throw Error(key, string.Create(CultureInfo.InvariantCulture, $"{value} is out of range [{min}, {max}]"));
    }

    public long? Long(string key, long min, long max)
    {
        var text = String(key);
        if (text is null)
        {
            return null;
        }

        if (!long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
        {
            throw Error(key, $"'{text}' is not a whole number");
        }

        return value >= min && value <= max
            ? value
            : throw Error(key, string.Create(CultureInfo.InvariantCulture, $"{value} is out of range [{min}, {max}]"));
    }

    /// <summary>A duration like "250ms" or "3s"; when <paramref name="bareHours"/> a plain number means hours.</summary>
    public TimeSpan? Duration(string key, TimeSpan min, TimeSpan max, bool bareHours = false)
    {
        var text = String(key);
        if (text is null)
        {
            return null;
        }

        TimeSpan value;
        if (bareHours && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var hours))
        {
            if (!double.IsFinite(hours) || hours < 0 || hours > 1e9)
            {
                throw Error(key, $"'{text}' must be a non-negative number of hours");
            }

            value = TimeSpan.FromHours(hours);
        }
        else if (text.TrimStart().StartsWith('-'))
        {
            throw Error(key, $"'{text}' is negative; durations must be >= 0");
        }
        else if (!Durations.TryParse(text, out value))
        {
            throw Error(key, $"'{text}' is not a duration (examples: 250ms, 3s, 1m, 2h{(bareHours ? ", or a number of hours" : string.Empty)})");
        }

        return value >= min && value <= max
            ? value
            : throw Error(key, $"{Durations.Format(value)} is out of range [{Durations.Format(min)}, {Durations.Format(max)}]");
    }

    /// <summary>Rejects any field that no reader asked for.</summary>
    public void RejectUnknown(string allowed)
    {
        foreach (var (name, field) in _fields)
        {
            if (!_read.Contains(name))
            {
                var known = allowed.Split(", ").Contains(name, StringComparer.Ordinal);
                throw new InputException(YamlInput.Line(field.Key), FieldPath(name), known
                    ? "does not apply together with the other fields given here"
                    : $"unknown field (expected one of: {allowed})");
            }
        }
    }
}
