namespace Halo.Client;

/// <summary>
/// What a user gives to reach the control plane — flags of the CLI, or the "Halo" configuration section of an
/// application — as strings, resolved with the environment and token files by <see cref="HaloClientOptionsBuilder"/>.
/// </summary>
public sealed class HaloConnectionOptions
{
    /// <summary>Control-plane servers, comma-separated ("Halo:Server"); default HALO_SERVER, else http://127.0.0.1:7400.</summary>
    public string? Server { get; set; }

    /// <summary>Bearer token ("Halo:Token"); else HALO_TOKEN, the token file, then a local server's bootstrap token.</summary>
    public string? Token { get; set; }

    /// <summary>File holding the token ("Halo:TokenFile"); else HALO_TOKEN_FILE.</summary>
    public string? TokenFile { get; set; }

    /// <summary>PEM CA the server's certificate must chain to ("Halo:CaCertificateFile").</summary>
    public string? CaCertificateFile { get; set; }

    /// <summary>PEM client certificate for mTLS ("Halo:ClientCertificateFile").</summary>
    public string? ClientCertificateFile { get; set; }

    /// <summary>PEM key of the client certificate ("Halo:ClientKeyFile").</summary>
    public string? ClientKeyFile { get; set; }

    /// <summary>Resolves the options; throws <see cref="HaloOptionsException"/> naming the configuration key at fault.</summary>
    public HaloClientOptions ToClientOptions()
    {
        try
        {
            return new HaloClientOptionsBuilder().Build(this);
        }
        catch (HaloOptionsException ex)
        {
            throw new HaloOptionsException(Key(ex.Option), ex.Problem);
        }
    }

    /// <summary>The configuration key for a flag or variable the builder named ("--server" → "Halo:Server").</summary>
    private static string Key(string option) => option switch
    {
        "--server" => "Halo:Server",
        "--token" => "Halo:Token",
        "--token-file" => "Halo:TokenFile",
        "--ca-cert" => "Halo:CaCertificateFile",
        "--client-cert" => "Halo:ClientCertificateFile",
        "--client-key" => "Halo:ClientKeyFile",
        _ => option, // an environment variable (HALO_SERVER ...) or a property is already its own name
    };
}
