namespace Halo.Cli.Configuration;

/// <summary>Bad user input, located at a line and a field so the message can point at it. Exit code 2.</summary>
public sealed class InputException : Exception
{
    public InputException(int line, string field, string message)
        : base($"line {line}: {field}: {message}")
    {
        Line = line;
        Field = field;
        Detail = message;
    }

    public InputException()
    {
        Field = string.Empty;
        Detail = string.Empty;
    }

    public InputException(string message)
        : base(message)
    {
        Field = string.Empty;
        Detail = message;
    }

    public InputException(string message, Exception innerException)
        : base(message, innerException)
    {
        Field = string.Empty;
        Detail = message;
    }

    /// <summary>1-based line in the input file.</summary>
    public int Line { get; }

    /// <summary>Dotted path of the offending field, e.g. <c>blocks.web.k</c>.</summary>
    public string Field { get; }

    /// <summary>What is wrong with it.</summary>
    public string Detail { get; }
}
