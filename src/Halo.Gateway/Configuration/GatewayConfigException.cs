namespace Halo.Gateway.Configuration;

/// <summary>An invalid gateway config; <see cref="Field"/> names the offending field (e.g. clusters.web.retry.attempts).</summary>
public sealed class GatewayConfigException : Exception
{
    /// <summary>Creates the exception.</summary>
    public GatewayConfigException(string field, string problem, Exception? inner = null)
        : base($"invalid gateway config: {field}: {problem}", inner)
    {
        Field = field;
    }

    /// <summary>Dotted path of the offending field.</summary>
    public string Field { get; }
}
