using System.Security.Cryptography.X509Certificates;
using Halo.Cli.Commands;
using Microsoft.Extensions.Logging;

namespace Halo.Cli.Tls;

/// <summary>
/// A listener's certificate and key from PEM files, swapped whole when either file changes (certificate rotation without a
/// restart: cert-manager, certbot, a renewed mounted secret). The files are polled on the injected clock rather than
/// watched: inotify does not see a Kubernetes secret's symlink swap reliably, and a poll is a tick tests can drive. A
/// half-written or mismatched pair is logged and the old certificate kept; the next tick tries again.
/// </summary>
internal sealed partial class ReloadingCertificate : IDisposable
{
    /// <summary>How often the files are checked. Default 1 s: a rotated certificate is served within about a second.</summary>
    public static readonly TimeSpan DefaultPollInterval = TimeSpan.FromSeconds(1);

    private readonly TlsFile _certificate;
    private readonly TlsFile _key;
    private readonly ILogger _logger;
    private readonly ITimer _timer;
    private readonly Lock _reload = new();
    private (DateTime, long, DateTime, long) _stamp;
    private X509Certificate2 _current;

    /// <summary>Loads the pair now (a bad pair fails here, naming the flag or key) and starts polling.</summary>
    public ReloadingCertificate(TlsFile certificate, TlsFile key, TimeProvider time, ILogger logger, TimeSpan? pollInterval = null)
    {
        _certificate = certificate;
        _key = key;
        _logger = logger;
        _stamp = Stamp();
        _current = TlsFile.LoadPair(certificate, key);
        var every = pollInterval ?? DefaultPollInterval;
        _timer = time.CreateTimer(_ => Reload(), null, every, every);
    }

    /// <summary>The certificate to present now (Kestrel's ServerCertificateSelector reads it per handshake).</summary>
    public X509Certificate2 Current => Volatile.Read(ref _current);

    /// <summary>One poll: reloads when either file's time or size changed. Returns true when a new certificate was published.</summary>
    public bool Reload()
    {
        lock (_reload)
        {
            (DateTime, long, DateTime, long) stamp;
            try
            {
                stamp = Stamp();
            }
            catch (IOException)
            {
                return false; // mid-swap; the next tick sees the new files
            }

            if (stamp == _stamp)
            {
                return false;
            }

            X509Certificate2 next;
            try
            {
                next = TlsFile.LoadPair(_certificate, _key);
            }
            catch (CliException ex)
            {
                // The cert may be written before its key: keep serving the old pair and look again next tick.
                Log.ReloadFailed(_logger, ex.Message);
                return false;
            }

            _stamp = stamp;
            // The old certificate is not disposed: a handshake in progress may still hold it.
            Volatile.Write(ref _current, next);
            var (subject, notAfter) = (next.Subject, next.NotAfter.ToUniversalTime());
            Log.Reloaded(_logger, _certificate.Path, subject, notAfter);
            return true;
        }
    }

    public void Dispose() => _timer.Dispose();

    private (DateTime, long, DateTime, long) Stamp()
    {
        var cert = new FileInfo(_certificate.Path);
        var key = new FileInfo(_key.Path);
        return (cert.Exists ? cert.LastWriteTimeUtc : default, cert.Exists ? cert.Length : -1, key.Exists ? key.LastWriteTimeUtc : default, key.Exists ? key.Length : -1);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1620, Level = LogLevel.Information, Message = "TLS certificate reloaded from {File}: {Subject}, valid until {NotAfter:u}")]
        public static partial void Reloaded(ILogger logger, string file, string subject, DateTime notAfter);

        [LoggerMessage(EventId = 1621, Level = LogLevel.Warning, Message = "TLS certificate not reloaded, still serving the previous one: {Reason}")]
        public static partial void ReloadFailed(ILogger logger, string reason);
    }
}
