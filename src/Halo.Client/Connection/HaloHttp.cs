using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Halo.Client;

/// <summary>
/// The one way a Halo role builds its HTTP connection to the control plane from <see cref="HaloClientOptions"/>: TLS with
/// the pinned CA and client certificate, the bearer token, and server-list failover (<see cref="ServerFailoverHandler"/>).
/// </summary>
public static class HaloHttp
{
    /// <summary>Marks a request that may be sent again to another server after a 5xx or a broken connection, whatever its method.</summary>
    public static readonly HttpRequestOptionsKey<bool> Idempotent = new("halo.idempotent");

    /// <summary>A long poll: how long the server may hold the request before answering; added to the attempt timeout.</summary>
    public static readonly HttpRequestOptionsKey<TimeSpan> LongPoll = new("halo.long-poll");

    /// <summary>
    /// A hedged call (it must also be <see cref="Idempotent"/>): when no server has answered within this time, the same call is
    /// also sent to the next server, and so on; the first answer below 500 wins and the others are cancelled. Zero sends it to
    /// every server at once. For calls whose lateness costs more than a duplicate, such as a primary's lease renewal.
    /// </summary>
    public static readonly HttpRequestOptionsKey<TimeSpan> HedgeAfter = new("halo.hedge-after");

    /// <summary>An <see cref="HttpClient"/> for the servers of <paramref name="options"/>; relative URLs resolve against the server in use.</summary>
    public static HttpClient CreateClient(HaloClientOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options = options.EnsureValid();
        return new HttpClient(CreateHandler(options, time), disposeHandler: true)
        {
            BaseAddress = options.Servers[0],
            // The handler bounds each attempt on the injected clock; this is the backstop for the whole call.
            Timeout = options.RequestTimeout,
        };
    }

    /// <summary>The handler chain alone (failover, token, transport), for a caller that builds its own <see cref="HttpClient"/>.</summary>
    public static ServerFailoverHandler CreateHandler(HaloClientOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options = options.EnsureValid();
        return new ServerFailoverHandler(options, time ?? TimeProvider.System) { InnerHandler = CreateTransport(options) };
    }

    /// <summary>The socket transport with the options' TLS settings: CA pinning and the client certificate.</summary>
    public static SocketsHttpHandler CreateTransport(HaloClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            ConnectTimeout = options.ConnectTimeout,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            // A bearer token is never sent to a host the user did not name: .NET drops Authorization on redirects anyway,
            // and a server that wants a call elsewhere answers so instead of redirecting.
            AllowAutoRedirect = false,
        };
        if (options.CaCertificateFile is { } ca)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = PinnedCaValidator(LoadPinnedCa(ca, "CaCertificateFile"));
        }

        if (options.ClientCertificateFile is { } certFile)
        {
            handler.SslOptions.ClientCertificates = [LoadClientCertificate(certFile, options.ClientKeyFile, "ClientCertificateFile")];
        }

        return handler;
    }

    /// <summary>
    /// The CA bundle of a PEM file, to pin with <see cref="PinnedCaValidator"/>. A missing, unreadable or empty file is a
    /// <see cref="HaloOptionsException"/> naming <paramref name="option"/> (the flag or key the operator wrote).
    /// </summary>
    public static X509Certificate2Collection LoadPinnedCa(string path, string option)
    {
        ArgumentNullException.ThrowIfNull(path);
        var roots = new X509Certificate2Collection();
        try
        {
            roots.ImportFromPemFile(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            throw new HaloOptionsException(option, $"cannot read '{path}': {ex.Message}");
        }

        return roots.Count > 0 ? roots : throw new HaloOptionsException(option, $"'{path}' holds no PEM certificate");
    }

    /// <summary>
    /// A client certificate with its key from PEM files (the key may sit in the certificate's file); a missing or unreadable
    /// file, or a key that is not the certificate's (an <see cref="ArgumentException"/> from .NET), names <paramref name="option"/>.
    /// </summary>
    public static X509Certificate2 LoadClientCertificate(string certificateFile, string? keyFile, string option)
    {
        ArgumentNullException.ThrowIfNull(certificateFile);
        try
        {
            return X509Certificate2.CreateFromPemFile(certificateFile, keyFile);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or ArgumentException)
        {
            throw new HaloOptionsException(option, $"cannot load '{certificateFile}' with its key: {ex.Message}");
        }
    }

    /// <summary>TLS client settings that pin <paramref name="roots"/> (when given; else the system trust store) and present <paramref name="certificate"/> (when given).</summary>
    public static Action<SslClientAuthenticationOptions> PinnedTls(X509Certificate2Collection? roots, X509Certificate2? certificate) => ssl =>
    {
        if (roots is not null)
        {
            ssl.RemoteCertificateValidationCallback = PinnedCaValidator(roots);
        }

        if (certificate is not null)
        {
            ssl.ClientCertificates = [certificate];
        }
    };

    /// <summary>The validation callback of a TLS client that trusts only <paramref name="roots"/> (see <see cref="TrustedByPinnedCa"/>).</summary>
    public static RemoteCertificateValidationCallback PinnedCaValidator(X509Certificate2Collection roots) =>
        (_, certificate, chain, errors) => TrustedByPinnedCa(certificate, chain, errors, roots);

    /// <summary>
    /// Accepts the server's certificate only when it chains to one of <paramref name="roots"/> (not the machine's store) and
    /// names the host; a pinned CA replaces the system trust rather than adding to it. Public so every TLS client in Halo
    /// (the agent's Redis connection too) pins the same way.
    /// </summary>
    public static bool TrustedByPinnedCa(X509Certificate? certificate, X509Chain? presented, SslPolicyErrors errors, X509Certificate2Collection roots)
    {
        if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
        {
            return false; // no certificate, or one for another name
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (presented is not null)
        {
            foreach (var element in presented.ChainElements)
            {
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        return chain.Build(leaf);
    }
}
