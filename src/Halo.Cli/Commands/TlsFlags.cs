using System.CommandLine;
using Halo.Cli.Tls;
using Halo.Core.Configuration;
using Microsoft.Extensions.Logging;

namespace Halo.Cli.Commands;

/// <summary>
/// The HTTPS flags of a listening role (`halo server`, `halo gateway`): certificate and key files, reloaded on change, and
/// optional client certificates (docs/security.md). A flag overrides the config file's key of the same meaning.
/// </summary>
internal sealed class TlsFlags
{
    private readonly Option<string?> _certificate = new("--tls-cert") { Description = "PEM certificate (chain) to serve HTTPS with; reloaded when the file changes" };

    private readonly Option<string?> _key = new("--tls-key") { Description = "PEM private key of --tls-cert; reloaded with it" };

    private readonly Option<string?> _clientCertificates = new("--tls-client-certs")
    {
        Description = "Client certificates (mTLS): require, allow or none (default). A verified certificate lets a connection in; its token still decides what it may do",
    };

    private readonly Option<string?> _clientCa = new("--tls-client-ca") { Description = "PEM CA that client certificates must chain to (with --tls-client-certs require|allow)" };

    public void AddTo(Command command)
    {
        command.Options.Add(_certificate);
        command.Options.Add(_key);
        command.Options.Add(_clientCertificates);
        command.Options.Add(_clientCa);
    }

    /// <summary>
    /// The listener's TLS from the flags, then <paramref name="file"/> (its keys named under <paramref name="prefix"/>), or
    /// null for plain HTTP. Any problem is a <see cref="CliException"/> naming the flag or key.
    /// </summary>
    public ListenerTls? Load(ParseResult parse, TlsConfig? file, string prefix, TimeProvider time, ILogger logger)
    {
        var certificate = Pick(parse, _certificate, file?.Certificate, prefix + ".certificate");
        var key = Pick(parse, _key, file?.Key, prefix + ".key");
        var mode = Pick(parse, _clientCertificates, file?.ClientCertificates, prefix + ".clientCertificates");
        var clientCa = Pick(parse, _clientCa, file?.ClientCa, prefix + ".clientCa");
        if (certificate is null && key is null)
        {
            if ((mode ?? clientCa) is { } stray)
            {
                throw new CliException($"{stray.Name}: client certificates need HTTPS (--tls-cert and --tls-key)");
            }

            return null;
        }

        if (certificate is null)
        {
            throw new CliException($"--tls-cert: required with {key!.Name}");
        }

        if (key is null)
        {
            throw new CliException($"--tls-key: required with {certificate.Name}");
        }

        var clientMode = ListenerTls.ParseMode(mode?.Path, mode?.Name ?? "--tls-client-certs");
        return ListenerTls.Load(certificate, key, clientMode, clientCa, mode?.Name ?? "--tls-client-certs", time, logger);
    }

    /// <summary>Turns an http:// URL into the https:// one a TLS listener answers on.</summary>
    public static string Https(string url) =>
        url.StartsWith("http://", StringComparison.Ordinal) ? "https://" + url["http://".Length..] : url;

    // A value with the name the operator used for it, so an error names the flag or the config key they wrote.
    private static TlsFile? Pick(ParseResult parse, Option<string?> flag, string? fromFile, string key) =>
        parse.GetValue(flag) is { } value ? new TlsFile(value, flag.Name) : fromFile is null ? null : new TlsFile(fromFile, key);
}
