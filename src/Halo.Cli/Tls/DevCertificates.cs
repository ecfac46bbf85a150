using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Halo.Cli.Tls;

/// <summary>
/// A local CA and the server and client certificates it signs, for tests and demos (`halo cert dev`). ECDSA P-256 throughout;
/// no openssl needed. Not for production: the CA key sits beside the certificates it signs.
/// </summary>
internal static class DevCertificates
{
    private const string ServerAuthOid = "1.3.6.1.5.5.7.3.1";
    private const string ClientAuthOid = "1.3.6.1.5.5.7.3.2";

    /// <summary>How long the generated certificates are valid. CA 2 years, leaves 1 year.</summary>
    public static readonly TimeSpan CaLifetime = TimeSpan.FromDays(730);

    /// <inheritdoc cref="CaLifetime"/>
    public static readonly TimeSpan LeafLifetime = TimeSpan.FromDays(365);

    /// <summary>Names every generated server certificate covers: the loopback names, so a local server works out of the box.</summary>
    public static readonly IReadOnlyList<string> LoopbackNames = ["localhost", "127.0.0.1", "::1"];

    /// <summary>A new self-signed CA (with its private key).</summary>
    public static X509Certificate2 CreateCa(string name, TimeProvider time)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        var now = time.GetUtcNow();
        return request.CreateSelfSigned(now.AddHours(-1), now + CaLifetime);
    }

    /// <summary>A server certificate for <paramref name="names"/> (DNS names or IP addresses) signed by <paramref name="ca"/>.</summary>
    public static X509Certificate2 CreateServer(X509Certificate2 ca, IEnumerable<string> names, TimeProvider time)
    {
        var all = names.Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in all)
        {
            if (IPAddress.TryParse(name, out var ip))
            {
                san.AddIpAddress(ip);
            }
            else
            {
                san.AddDnsName(name);
            }
        }

        return CreateLeaf(ca, $"CN={all[0]}", ServerAuthOid, san.Build(), time);
    }

    /// <summary>A client certificate (for mTLS) named <paramref name="name"/>, signed by <paramref name="ca"/>.</summary>
    public static X509Certificate2 CreateClient(X509Certificate2 ca, string name, TimeProvider time) => CreateLeaf(ca, $"CN={name}", ClientAuthOid, null, time);

    /// <summary>The certificate as PEM.</summary>
    public static string CertificatePem(X509Certificate2 certificate) => certificate.ExportCertificatePem() + "\n";

    /// <summary>The certificate's private key as PKCS#8 PEM.</summary>
    public static string KeyPem(X509Certificate2 certificate)
    {
        using var key = certificate.GetECDsaPrivateKey() ?? throw new InvalidOperationException("the certificate has no ECDSA private key");
        return key.ExportPkcs8PrivateKeyPem();
    }

    private static X509Certificate2 CreateLeaf(X509Certificate2 ca, string subject, string usage, X509Extension? san, TimeProvider time)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(usage)], critical: false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        if (san is not null)
        {
            request.CertificateExtensions.Add(san);
        }

        var now = time.GetUtcNow();
        var notAfter = now + LeafLifetime < ca.NotAfter ? now + LeafLifetime : new DateTimeOffset(ca.NotAfter.ToUniversalTime());
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F; // a positive serial number
        using var signed = request.Create(ca, now.AddHours(-1), notAfter, serial);
        return signed.CopyWithPrivateKey(key);
    }
}
