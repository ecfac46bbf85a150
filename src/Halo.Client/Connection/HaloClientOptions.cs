namespace Halo.Client;

/// <summary>
/// How any Halo role (CLI verb, agent, gateway, TCP proxy, SDK) reaches the control plane: which servers, with which
/// token, and how TLS is checked. Build one with <see cref="HaloClientOptionsBuilder"/> from flags and environment, or set
/// the properties directly; <see cref="Validate"/> names the first bad option.
/// </summary>
public sealed record HaloClientOptions
{
    /// <summary>The address every role uses when none is given: a server on this machine.</summary>
    public static readonly Uri DefaultServer = new("http://127.0.0.1:7400/");

    /// <summary>
    /// Control-plane servers, tried in order; a call moves to the next on a connection failure or a 5xx and stays on
    /// the one that answers. At least one; each an absolute http(s) URL (a trailing slash is added). Default: the local server.
    /// </summary>
    public IReadOnlyList<Uri> Servers { get; init; } = [DefaultServer];

    /// <summary>Bearer token sent as <c>Authorization: Bearer ...</c>; null sends none (a server with auth off).</summary>
    public string? Token { get; init; }

    /// <summary>Where <see cref="Token"/> came from (for messages, never the token itself): "--token", "HALO_TOKEN", a file path.</summary>
    public string? TokenSource { get; init; }

    /// <summary>PEM file of the CA that signed the servers' certificates; when set, only chains to it are trusted (CA pinning).</summary>
    public string? CaCertificateFile { get; init; }

    /// <summary>PEM client certificate for mTLS; needs <see cref="ClientKeyFile"/> unless the file holds the key too.</summary>
    public string? ClientCertificateFile { get; init; }

    /// <summary>PEM private key of <see cref="ClientCertificateFile"/>.</summary>
    public string? ClientKeyFile { get; init; }

    /// <summary>Longest a TCP connect to one server may take before the next is tried. Default 2 s; 10 ms – 1 min.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Longest one server may take to answer with headers before the call moves to the next server (a hung or
    /// paused server). Default 10 s; 10 ms – 10 min. Long polls add their wait to it.
    /// </summary>
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Longest a whole call may take across all servers. Default 30 s; must not be shorter than <see cref="AttemptTimeout"/>.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>A change feed with no byte (event or keep-alive) for this long is treated as lost and resumed. Default 45 s (three server keep-alives).</summary>
    public TimeSpan FeedIdleTimeout { get; init; } = TimeSpan.FromSeconds(45);

    /// <summary>Returns the first problem as "option: what is wrong", or null when the options are usable.</summary>
    public string? Validate()
    {
        if (Servers is null || Servers.Count == 0)
        {
            return "Servers: at least one server address is required";
        }

        foreach (var server in Servers)
        {
            if (server is null || !server.IsAbsoluteUri || server.Scheme is not ("http" or "https") || !string.IsNullOrEmpty(server.Query) || !string.IsNullOrEmpty(server.Fragment))
            {
                return $"Servers: '{server}' is not an http(s) URL";
            }
        }

        if (Token is not null && (Token.Length == 0 || Token.Any(c => char.IsWhiteSpace(c) || char.IsControl(c))))
        {
            return $"Token: the token from {TokenSource ?? "the options"} is empty or has spaces or control characters";
        }

        if (ClientKeyFile is not null && ClientCertificateFile is null)
        {
            return "ClientKeyFile: needs ClientCertificateFile";
        }

        foreach (var (name, file) in new[] { ("CaCertificateFile", CaCertificateFile), ("ClientCertificateFile", ClientCertificateFile), ("ClientKeyFile", ClientKeyFile) })
        {
            if (file is not null && !File.Exists(file))
            {
                return $"{name}: file '{file}' does not exist";
            }
        }

        if (ConnectTimeout < TimeSpan.FromMilliseconds(10) || ConnectTimeout > TimeSpan.FromMinutes(1))
        {
            return "ConnectTimeout: must be between 10ms and 1m";
        }

        if (AttemptTimeout < TimeSpan.FromMilliseconds(10) || AttemptTimeout > TimeSpan.FromMinutes(10))
        {
            return "AttemptTimeout: must be between 10ms and 10m";
        }

        if (RequestTimeout < AttemptTimeout)
        {
            return "RequestTimeout: must not be shorter than AttemptTimeout";
        }

        if (FeedIdleTimeout < TimeSpan.FromMilliseconds(100))
        {
            return "FeedIdleTimeout: must be at least 100ms";
        }

        return null;
    }

    /// <summary>Throws <see cref="ArgumentException"/> with <see cref="Validate"/>'s message when the options are not usable.</summary>
    public HaloClientOptions EnsureValid() =>
        Validate() is { } problem ? throw new ArgumentException(problem) : this with { Servers = [.. Servers.Select(WithSlash)] };

    /// <summary>True when every server is on this machine (a loopback address or "localhost").</summary>
    public bool AllServersLocal => Servers.All(IsLocal);

    internal static bool IsLocal(Uri server) =>
        server.IsLoopback || (System.Net.IPAddress.TryParse(server.IdnHost, out var ip) && System.Net.IPAddress.IsLoopback(ip));

    internal static Uri WithSlash(Uri server) =>
        server.AbsolutePath.EndsWith('/') ? server : new Uri(server.GetLeftPart(UriPartial.Path) + "/");
}
