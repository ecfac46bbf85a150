using Halo.Gateway.Configuration;

namespace Halo.Gateway.Routing;

/// <summary>A route bound to its cluster runtime.</summary>
public sealed record Route(RouteSettings Settings, ClusterRuntime Cluster);

/// <summary>
/// Immutable routing table: routes ordered most specific first, bound to cluster runtimes, and the
/// registry revision it reflects. Published whole through <see cref="RoutingTableHolder"/>.
/// </summary>
public sealed class RoutingTable
{
    private readonly Route[] _routes;

    /// <summary>Creates a table; routes are sorted exact host first, then longest path prefix.</summary>
    public RoutingTable(IEnumerable<Route> routes, long revision)
    {
        _routes = routes
            .OrderBy(r => r.Settings.Host is null ? 1 : 0)
            .ThenByDescending(r => r.Settings.PathPrefix.Length)
            .ToArray();
        Revision = revision;
    }

    /// <summary>Registry revision reflected (0 for static-only configs).</summary>
    public long Revision { get; }

    /// <summary>Routes in match order.</summary>
    public IReadOnlyList<Route> Routes => _routes;

    /// <summary>Finds the route for a request, or null.</summary>
    public Route? Match(string host, string path) => Match(host.AsSpan(), path.AsSpan());

    /// <summary>Finds the route for a request given as spans (the fast path matches without allocating).</summary>
    public Route? Match(ReadOnlySpan<char> host, ReadOnlySpan<char> path)
    {
        var colon = host.LastIndexOf(':');
        var hostOnly = colon > 0 && !host.EndsWith(']') ? host[..colon] : host;
        foreach (var r in _routes)
        {
            if (r.Settings.Host is { } h && !hostOnly.Equals(h, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            var prefix = r.Settings.PathPrefix;
            // Segment-aware: "/api" matches "/api" and "/api/x", not "/apix".
            if (prefix == "/" || (path.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)
                && (path.Length == prefix.Length || path[prefix.Length] == '/' || prefix.EndsWith('/'))))
            {
                return r;
            }
        }

        return null;
    }
}
