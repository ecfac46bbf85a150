using Halo.Core.Balancing;
using Halo.Gateway.Configuration;
using Halo.Core.Registry;

namespace Halo.Gateway.Routing;

/// <summary>
/// Builds routing tables from the validated config and the registry's instances. Cluster runtimes
/// and destination runtimes are kept across builds so health and load state survive a swap.
/// </summary>
public sealed class RoutingTableBuilder
{
    private readonly GatewaySettings _settings;
    private readonly TimeProvider _time;
    private readonly Dictionary<string, ClusterRuntime> _clusters;
    private readonly Dictionary<string, DestinationRuntime> _destinations = new(StringComparer.Ordinal);
    private readonly object _gate = new();

    /// <summary>Creates the builder with one runtime per configured cluster.</summary>
    public RoutingTableBuilder(GatewaySettings settings, TimeProvider time, Func<ClusterSettings, ClusterRuntime> createCluster)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(createCluster);
        _settings = settings;
        _time = time;
        _clusters = settings.Clusters.ToDictionary(kv => kv.Key, kv => createCluster(kv.Value), StringComparer.Ordinal);
    }

    /// <summary>Cluster runtimes by name.</summary>
    public IReadOnlyDictionary<string, ClusterRuntime> Clusters => _clusters;

    /// <summary>Builds a table for <paramref name="instances"/> at <paramref name="revision"/>.</summary>
    public RoutingTable Build(IReadOnlyCollection<InstanceRecord> instances, long revision)
    {
        lock (_gate)
        {
            var live = new HashSet<string>(StringComparer.Ordinal);
            foreach (var cluster in _clusters.Values)
            {
                var pools = new List<IReadOnlyList<DestinationRuntime>>();
                foreach (var pool in cluster.Settings.Pools)
                {
                    var members = new List<DestinationRuntime>();
                    if (pool.Service is { } service)
                    {
                        foreach (var i in instances.Where(i => i.Service == service && (pool.Zone is null || i.Zone == pool.Zone)).OrderBy(i => i.Id, StringComparer.Ordinal))
                        {
                            var d = GetOrCreate(cluster, $"{i.Service}/{i.Id}", new Uri($"{(cluster.Settings.Tls is null ? "http" : "https")}://{FormatHost(i.Address)}:{i.Port}"), Math.Max(1, i.Weight), i.Service, i.Id, live);
                            d.Registry = i.Health;
                            // Weight 0 in the registry means "send nothing": treat like draining.
                            d.Draining = i.Draining || i.Weight == 0;
                            members.Add(d);
                        }
                    }

                    foreach (var s in pool.Destinations)
                    {
                        members.Add(GetOrCreate(cluster, s.Name, s.Url, s.Weight, null, null, live));
                    }

                    pools.Add(members);
                }

                cluster.SetMembership(pools, revision);
            }

            // Forget destinations that left so their state (and memory) goes with them.
            foreach (var key in _destinations.Keys.Where(k => !live.Contains(k)).ToList())
            {
                _destinations.Remove(key, out var gone);
                gone!.Connections.Dispose();
            }

            return new RoutingTable(_settings.Routes.Select(r => new Route(r, _clusters[r.Cluster])), revision);
        }
    }

    private DestinationRuntime GetOrCreate(ClusterRuntime cluster, string name, Uri url, int weight, string? service, string? id, HashSet<string> live)
    {
        var key = $"{cluster.Name}|{name}|{url.Authority}|{weight}";
        live.Add(key);
        if (_destinations.TryGetValue(key, out var existing))
        {
            return existing;
        }

        var s = cluster.Settings;
        // Failures are charged at least the per-try timeout so a fast-failing backend never looks cheap.
        var ewma = new PeakEwma(_time, TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(1), s.Retry.PerTryTimeout);
        var d = new DestinationRuntime(key, name, url, service, id, new BalancingDestination(name, weight, ewma),
            new OutlierDetector(s.Outlier, _time), _time.GetTimestamp());
        _destinations[key] = d;
        return d;
    }

    private static string FormatHost(string address) => address.Contains(':', StringComparison.Ordinal) && !address.StartsWith('[') ? $"[{address}]" : address;
}
