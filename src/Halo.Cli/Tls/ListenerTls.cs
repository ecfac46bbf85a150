using System.Security.Cryptography.X509Certificates;
using Halo.Cli.Commands;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Logging;

namespace Halo.Cli.Tls;

/// <summary>Whether a listener asks callers for a client certificate (mTLS); docs/security.md.</summary>
internal enum ClientCertificates
{
    /// <summary>No certificate is asked for (tokens alone authenticate). The default.</summary>
    None,

    /// <summary>A certificate is asked for and, when sent, must chain to the client CA; callers without one still connect.</summary>
    Allow,

    /// <summary>Every connection must present a certificate chaining to the client CA, or the handshake fails.</summary>
    Require,
}

/// <summary>
/// HTTPS for a Halo listener (`halo server`, `halo gateway`): the certificate and key files, reloaded on change, and
/// optional client-certificate authentication against a CA of the operator's choosing. mTLS is transport authentication
/// on top of tokens: a verified certificate lets the connection in, the token still decides what the caller may do.
/// </summary>
internal sealed class ListenerTls : IDisposable
{
    // id-kp-clientAuth: a server certificate from the same CA must not open a client connection.
    private const string ClientAuthOid = "1.3.6.1.5.5.7.3.2";

    private readonly ReloadingCertificate _certificate;
    private readonly X509Certificate2Collection? _clientCa;
    private readonly ClientCertificates _mode;

    private ListenerTls(ReloadingCertificate certificate, ClientCertificates mode, X509Certificate2Collection? clientCa)
    {
        _certificate = certificate;
        _mode = mode;
        _clientCa = clientCa;
    }

    /// <summary>The certificate presented now.</summary>
    public X509Certificate2 Certificate => _certificate.Current;

    /// <summary>Checks the files now (a rotated certificate is published); for tests, which drive the clock themselves.</summary>
    public bool Reload() => _certificate.Reload();

    /// <summary>
    /// Loads the listener's TLS settings, failing with one line naming the flag or key at fault: a missing, unreadable or
    /// non-PEM file, a key that is not the certificate's, or client certificates without a CA to check them against.
    /// </summary>
    public static ListenerTls Load(TlsFile certificate, TlsFile key, ClientCertificates mode, TlsFile? clientCa, string modeName, TimeProvider time, ILogger logger,
        TimeSpan? pollInterval = null)
    {
        X509Certificate2Collection? roots = null;
        if (mode != ClientCertificates.None)
        {
            roots = (clientCa ?? throw new CliException($"{modeName}: '{mode.ToString().ToLowerInvariant()}' needs a CA to check client certificates against (--tls-client-ca)")).LoadBundle();
        }

        return new ListenerTls(new ReloadingCertificate(certificate, key, time, logger, pollInterval), mode, roots);
    }

    /// <summary>Applies these settings to Kestrel's HTTPS options.</summary>
    public void Configure(HttpsConnectionAdapterOptions https)
    {
        ArgumentNullException.ThrowIfNull(https);
        https.ServerCertificateSelector = (_, _) => _certificate.Current;
        https.SslProtocols = System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13;
        https.ClientCertificateMode = _mode switch
        {
            ClientCertificates.Require => Microsoft.AspNetCore.Server.Kestrel.Https.ClientCertificateMode.RequireCertificate,
            ClientCertificates.Allow => Microsoft.AspNetCore.Server.Kestrel.Https.ClientCertificateMode.AllowCertificate,
            _ => Microsoft.AspNetCore.Server.Kestrel.Https.ClientCertificateMode.NoCertificate,
        };
        if (_clientCa is { } roots)
        {
            https.ClientCertificateValidation = (certificate, _, _) => ChainsTo(certificate, roots);
        }
    }

    /// <summary>True when <paramref name="certificate"/> chains to one of <paramref name="roots"/> (not the machine's store) for client authentication.</summary>
    public static bool ChainsTo(X509Certificate2 certificate, X509Certificate2Collection roots)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new System.Security.Cryptography.Oid(ClientAuthOid));
        return chain.Build(certificate);
    }

    /// <summary>Parses a client-certificates mode (none, allow, require), or fails naming the flag or key.</summary>
    public static ClientCertificates ParseMode(string? value, string name) => value switch
    {
        null or "none" => ClientCertificates.None,
        "allow" => ClientCertificates.Allow,
        "require" => ClientCertificates.Require,
        _ => throw new CliException($"{name}: '{value}' is not a mode (expected require, allow or none)"),
    };

    public void Dispose() => _certificate.Dispose();
}
