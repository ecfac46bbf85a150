using System.Globalization;

namespace Halo.Bench;

/// <summary>Minimal `--name value` / `--flag` parsing; a bench needs no more.</summary>
internal sealed class Args(string[] args)
{
    public string? Get(string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    public bool Has(string name) => Array.IndexOf(args, name) >= 0;

    public string Require(string name) => Get(name) ?? throw new ArgumentException($"missing {name}");

    public int Int(string name, int fallback) => Get(name) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

    public double Double(string name, double fallback) => Get(name) is { } v ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;
}
