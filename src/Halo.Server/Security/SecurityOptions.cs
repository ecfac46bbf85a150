using System.Net;

namespace Halo.Server.Security;

/// <summary>Authentication and request hygiene (docs/security.md). Every default is closed.</summary>
public sealed record SecurityOptions
{
    /// <summary>
    /// Turns authentication off: every caller is an anonymous admin. Refused unless the server listens on loopback only,
    /// and warned about at every start. Default false.
    /// </summary>
    public bool AllowAnonymous { get; init; }

    /// <summary>Serve /metrics without a token (for a scraper that cannot send one). Default false: /metrics needs `read`.</summary>
    public bool MetricsAnonymous { get; init; }

    /// <summary>
    /// File holding the bootstrap admin token: read when it exists (a mounted secret), written (0600) when it does not.
    /// Default: bootstrap.token in the data directory.
    /// </summary>
    public string? BootstrapTokenFile { get; init; }

    /// <summary>
    /// Host header values accepted (host names or addresses, without port), against DNS rebinding. Default: when the
    /// server listens on loopback only, loopback names and addresses; otherwise any host (tokens protect the API).
    /// </summary>
    public IReadOnlyList<string>? AllowedHosts { get; init; }

    /// <summary>Failed authentications one source may make per 10 s before it is answered 429 until the window ends. Default 20.</summary>
    public int AuthFailuresPerSource { get; init; } = 20;

    /// <summary>Caps on streams, request rates, connections and headers. Default: <see cref="Halo.Core.Configuration.LimitOptions"/>'s.</summary>
    public Halo.Core.Configuration.LimitOptions Limits { get; init; } = new();

    /// <summary>
    /// Networks (CIDR, or single addresses) server-run checks may reach: <c>server.checks.allowedNetworks</c>. Default null:
    /// loopback plus the networks the server listens on (every interface's on 0.0.0.0 or ::), never link-local; an empty
    /// list allows no server-run checks at all.
    /// </summary>
    public IReadOnlyList<string>? AllowedCheckNetworks { get; init; }

    /// <summary>
    /// <c>server.registrations.ownAddressOnly</c>: a <c>register</c> token may register only instances whose address is the
    /// IP address its connection comes from (<c>operate</c> and <c>admin</c> may register any). Default false.
    /// </summary>
    public bool OwnAddressOnly { get; init; }

    /// <summary>True when <paramref name="listenUrl"/> binds loopback only (127.0.0.0/8, ::1 or localhost).</summary>
    public static bool IsLoopback(string listenUrl)
    {
        if (!Uri.TryCreate(listenUrl, UriKind.Absolute, out var uri))
        {
            return false;
        }

        return uri.Host == "localhost" || IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip);
    }
}
