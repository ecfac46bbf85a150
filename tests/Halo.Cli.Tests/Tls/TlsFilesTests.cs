using System.Security.Cryptography.X509Certificates;
using Halo.Cli.Commands;
using Halo.Cli.Tls;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Halo.Cli.Tests.Tls;

public sealed class TlsFilesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("halo-tls-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero));

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void DevCertificates_ServerAndClientChainToTheirCa_OnlyTheClientCertAuthenticatesAClient()
    {
        using var ca = DevCertificates.CreateCa("test CA", _time);
        using var other = DevCertificates.CreateCa("other CA", _time);
        using var server = DevCertificates.CreateServer(ca, DevCertificates.LoopbackNames, _time);
        using var client = DevCertificates.CreateClient(ca, "agent-1", _time);
        using var stranger = DevCertificates.CreateClient(other, "agent-1", _time);
        var roots = new X509Certificate2Collection(X509CertificateLoader.LoadCertificate(ca.RawData));

        Assert.True(ListenerTls.ChainsTo(client, roots));
        Assert.False(ListenerTls.ChainsTo(stranger, roots)); // another CA
        Assert.False(ListenerTls.ChainsTo(server, roots)); // a server certificate is not a client certificate
        Assert.Contains("127.0.0.1", server.GetNameInfo(X509NameType.DnsName, false) + " " + SubjectAltNames(server), StringComparison.Ordinal);
    }

    [Fact]
    public void LoadPair_BadFiles_FailNamingTheFlagOrKey()
    {
        var (cert, key) = WritePair("a");
        var (_, otherKey) = WritePair("b");
        File.WriteAllText(Path.Combine(_dir, "junk.pem"), "not pem");

        Assert.Equal($"--tls-cert: no such file '{Path.Combine(_dir, "none.pem")}'",
            Assert.Throws<CliException>(() => TlsFile.LoadPair(new(Path.Combine(_dir, "none.pem"), "--tls-cert"), new(key, "--tls-key"))).Message);
        Assert.StartsWith("server.tls.key: ", Assert.Throws<CliException>(() => TlsFile.LoadPair(new(cert, "server.tls.certificate"), new(otherKey, "server.tls.key"))).Message,
            StringComparison.Ordinal);
        Assert.Contains("is not the private key", Assert.Throws<CliException>(() => TlsFile.LoadPair(new(cert, "--tls-cert"), new(otherKey, "--tls-key"))).Message,
            StringComparison.Ordinal);
        Assert.StartsWith("--tls-cert: ", Assert.Throws<CliException>(() => TlsFile.LoadPair(new(Path.Combine(_dir, "junk.pem"), "--tls-cert"), new(key, "--tls-key"))).Message,
            StringComparison.Ordinal);
        Assert.StartsWith("--tls-key: ", Assert.Throws<CliException>(() => TlsFile.LoadPair(new(cert, "--tls-cert"), new(Path.Combine(_dir, "junk.pem"), "--tls-key"))).Message,
            StringComparison.Ordinal);
        Assert.StartsWith($"--tls-key: cannot read '{_dir}'", Assert.Throws<CliException>(() => TlsFile.LoadPair(new(cert, "--tls-cert"), new(_dir, "--tls-key"))).Message,
            StringComparison.Ordinal); // unreadable: a directory (permissions do not stop root)
        Assert.StartsWith("--tls-client-ca: ", Assert.Throws<CliException>(() => new TlsFile(Path.Combine(_dir, "junk.pem"), "--tls-client-ca").LoadBundle()).Message,
            StringComparison.Ordinal);
        Assert.StartsWith("--tls-client-certs: ", Assert.Throws<CliException>(() => ListenerTls.ParseMode("sometimes", "--tls-client-certs")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Reload_RotatedFiles_PublishTheNewCertificateOnTheNextTick_AndAHalfWrittenPairKeepsTheOld()
    {
        var (cert, key) = WritePair("live");
        using var tls = new ReloadingCertificate(new(cert, "--tls-cert"), new(key, "--tls-key"), _time, NullLogger.Instance, TimeSpan.FromSeconds(1));
        var first = tls.Current.Thumbprint;

        // The certificate lands before its key: the mismatched pair is not served.
        var (nextCert, nextKey) = WritePair("next");
        File.Copy(nextCert, cert, overwrite: true);
        File.SetLastWriteTimeUtc(cert, File.GetLastWriteTimeUtc(cert).AddSeconds(5));
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(first, tls.Current.Thumbprint);

        File.Copy(nextKey, key, overwrite: true);
        File.SetLastWriteTimeUtc(key, File.GetLastWriteTimeUtc(key).AddSeconds(5));
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.NotEqual(first, tls.Current.Thumbprint);
        Assert.Equal(X509Certificate2.CreateFromPemFile(nextCert, nextKey).Thumbprint, tls.Current.Thumbprint);
        Assert.False(tls.Reload()); // nothing changed since
    }

    private (string Cert, string Key) WritePair(string name)
    {
        using var ca = DevCertificates.CreateCa("ca " + name, _time);
        using var leaf = DevCertificates.CreateServer(ca, ["localhost"], _time);
        var cert = Path.Combine(_dir, name + ".pem");
        var key = Path.Combine(_dir, name + "-key.pem");
        File.WriteAllText(cert, DevCertificates.CertificatePem(leaf));
        File.WriteAllText(key, DevCertificates.KeyPem(leaf));
        return (cert, key);
    }

    private static string SubjectAltNames(X509Certificate2 certificate) =>
        certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().SingleOrDefault() is { } san
            ? string.Join(' ', san.EnumerateDnsNames().Concat(san.EnumerateIPAddresses().Select(ip => ip.ToString())))
            : "";
}
