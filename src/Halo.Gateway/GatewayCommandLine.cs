namespace Halo.Gateway;

/// <summary>Options of <c>halo gateway</c>; null means "use the config file's value, then the default".</summary>
public sealed record GatewayCommandLine
{
    /// <summary>Path of the YAML or JSON config file (required).</summary>
    public string? ConfigPath { get; init; }

    /// <summary>Listen address host:port. Default 127.0.0.1:7480; port 0 picks a free port (printed at start).</summary>
    public string? Listen { get; init; }

    /// <summary>Control plane URL(s), comma-separated (--server, else HALO_SERVER). Default: the file's <c>server</c>, else http://127.0.0.1:7400.</summary>
    public string? Server { get; init; }

    /// <summary>Token and TLS flags (--token, --token-file, --ca-cert, ...); its Server is filled from the file when the flag is absent.</summary>
    public Halo.Client.HaloConnectionOptions? Client { get; init; }

    /// <summary>
    /// Builds the listener's HTTPS settings from the config file's tls section (null when absent) and the --tls-* flags;
    /// returns null for plain HTTP. Null: the file's tls section is not supported by the caller.
    /// </summary>
    public Func<Halo.Core.Configuration.TlsConfig?, Action<Microsoft.AspNetCore.Server.Kestrel.Https.HttpsConnectionAdapterOptions>?>? Https { get; init; }
}
