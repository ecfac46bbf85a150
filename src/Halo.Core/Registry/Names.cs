using System.Text.RegularExpressions;

namespace Halo.Core.Registry;

/// <summary>The one rule for service, instance, group and member names: safe in URLs, store keys and metric labels.</summary>
public static partial class Names
{
    public const string Rule = "1-63 characters: letters, digits, '.', '_' or '-', starting with a letter or digit";

    public static bool IsValid(string? name) => name is not null && NamePattern().IsMatch(name);

    [GeneratedRegex("^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex NamePattern();
}
