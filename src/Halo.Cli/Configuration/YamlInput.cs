using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Halo.Cli.Configuration;

/// <summary>
/// Loads YAML or JSON into a node tree that remembers line numbers. JSON is read by the YAML parser
/// (JSON is, for practical purposes, YAML's flow style), so both formats get the same line-accurate errors.
/// </summary>
public static class YamlInput
{
    /// <summary>Parses <paramref name="text"/>; the root must be a mapping.</summary>
    public static YamlMappingNode LoadMapping(string text, bool isJson)
    {
        ArgumentNullException.ThrowIfNull(text);

        // Tabs are plain whitespace in JSON but illegal indentation in YAML; valid JSON never has a raw
        // tab inside a string, so replacing them is safe.
        if (isJson)
        {
            text = text.Replace('\t', ' ');
        }

        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            var message = Unwrap(e);

            // YamlDotNet reports "Duplicate key name"; point at the field itself.
            const string duplicate = "Duplicate key ";
            throw message.StartsWith(duplicate, StringComparison.Ordinal)
                ? new InputException((int)e.Start.Line, message[duplicate.Length..], "duplicate field")
                : new InputException((int)e.Start.Line, "(syntax)", message);
        }

        if (stream.Documents.Count == 0)
        {
            throw new InputException(1, "(document)", "the file is empty");
        }

        var root = stream.Documents[0].RootNode;
        return root as YamlMappingNode
            ?? throw new InputException(Line(root), "(document)", "expected a mapping of fields at the top level");
    }

    /// <summary>1-based line where a node starts.</summary>
    public static int Line(YamlNode node) => (int)node.Start.Line;

    private static string Unwrap(YamlException e)
    {
        // YamlDotNet prefixes its own "(Line: …)" position; ours is in the message already.
        var inner = e.InnerException as YamlException ?? e;
        var message = inner.Message;
        var close = message.IndexOf("): ", StringComparison.Ordinal);
        return message.StartsWith("(Line", StringComparison.Ordinal) && close > 0 ? message[(close + 3)..] : message;
    }
}
