using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Halo.Agent.Drivers;

/// <summary>
/// TLS to Redis: the CA the server's certificate must chain to (pinned, host name checked) and optionally a client
/// certificate (Redis' tls-auth-clients). The Redis side (tls-port, tls-replication for replicas) is the operator's
/// redis.conf; managed Redis (--redis-server) does not start TLS yet.
/// </summary>
public sealed record RedisTls(string CaFile, string? CertificateFile = null, string? KeyFile = null)
{
    /// <summary>Client options for one connection to <paramref name="host"/>; throws <see cref="System.Security.Cryptography.CryptographicException"/> for unreadable PEM.</summary>
    public SslClientAuthenticationOptions ClientOptions(string host)
    {
        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(CaFile);
        if (roots.Count == 0)
        {
            throw new System.Security.Cryptography.CryptographicException($"'{CaFile}' holds no PEM certificate");
        }
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = host,
            RemoteCertificateValidationCallback = (_, certificate, chain, errors) => Halo.Client.HaloHttp.TrustedByPinnedCa(certificate, chain, errors, roots),
        };
        if (CertificateFile is not null)
        {
            options.ClientCertificates = [X509Certificate2.CreateFromPemFile(CertificateFile, KeyFile)];
        }

        return options;
    }
}
