using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Halo.Cli.Commands;

namespace Halo.Cli.Tls;

/// <summary>A PEM file named by a flag or config key; a problem with it is one line naming that flag or key.</summary>
internal sealed record TlsFile(string Path, string Name)
{
    private const string EcPublicKeyOid = "1.2.840.10045.2.1";

    /// <summary>Reads the file's text, or fails naming <see cref="Name"/>: missing and unreadable are the two things operators hit.</summary>
    public string Read()
    {
        try
        {
            return File.ReadAllText(Path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new CliException($"{Name}: no such file '{Path}'");
        }
        catch (Exception ex) when (ex is UnauthorizedAccessException or IOException)
        {
            throw new CliException($"{Name}: cannot read '{Path}': {ex.Message}");
        }
    }

    /// <summary>
    /// The certificate of <paramref name="certificate"/> with the private key of <paramref name="key"/>; a missing, unreadable
    /// or non-PEM file, or a key that is not the certificate's, fails naming the flag or key at fault.
    /// </summary>
    public static X509Certificate2 LoadPair(TlsFile certificate, TlsFile key)
    {
        var certText = certificate.Read();
        var keyText = key.Read();
        X509Certificate2 leaf;
        try
        {
            leaf = X509Certificate2.CreateFromPem(certText);
        }
        catch (CryptographicException)
        {
            throw new CliException($"{certificate.Name}: '{certificate.Path}' holds no PEM certificate");
        }

        using (leaf)
        {
            try
            {
                if (leaf.GetKeyAlgorithm() == EcPublicKeyOid)
                {
                    using var ec = ECDsa.Create();
                    ec.ImportFromPem(keyText);
                    return leaf.CopyWithPrivateKey(ec);
                }

                using var rsa = RSA.Create();
                rsa.ImportFromPem(keyText);
                return leaf.CopyWithPrivateKey(rsa);
            }
            catch (ArgumentException)
            {
                throw new CliException($"{key.Name}: '{key.Path}' is not the private key of {certificate.Name} '{certificate.Path}'");
            }
            catch (CryptographicException)
            {
                throw new CliException($"{key.Name}: '{key.Path}' holds no PEM private key of the certificate's kind ({leaf.PublicKey.Oid.FriendlyName})");
            }
        }
    }

    /// <summary>Every certificate in a PEM bundle (a CA file), or a failure naming the flag or key when there is none.</summary>
    public X509Certificate2Collection LoadBundle()
    {
        var text = Read();
        var bundle = new X509Certificate2Collection();
        try
        {
            bundle.ImportFromPem(text);
        }
        catch (CryptographicException)
        {
            bundle.Clear();
        }

        return bundle.Count > 0 ? bundle : throw new CliException($"{Name}: '{Path}' holds no PEM certificate");
    }
}
