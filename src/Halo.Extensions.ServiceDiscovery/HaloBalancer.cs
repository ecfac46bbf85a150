using Halo.Core.Balancing;
using Halo.Core.Registry;
using Microsoft.Extensions.Options;

namespace Halo.Extensions.ServiceDiscovery;

/// <summary>
/// Chooses the instance of a service each discovery request goes to, with the Halo.Core policy named by
/// <see cref="HaloDiscoveryOptions.Balancing"/> (the gateway's policies, spelled as in its <c>policy:</c>). One policy per
/// service for the whole application; an instance keeps its load signals (in-flight count, latency estimate) while it
/// stays in the routable set, so a catalog update does not forget that it was slow.
/// </summary>
internal sealed class HaloBalancer
{
    // Latency estimate as the gateway keeps it: 10 s decay, 1 ms before the first sample; a failure costs at least 1 s,
    // so an instance that refuses connections at once does not look like the fastest one.
    private static readonly TimeSpan Decay = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Initial = TimeSpan.FromMilliseconds(1);
    private static readonly TimeSpan FailurePenalty = TimeSpan.FromSeconds(1);

    private readonly HaloServiceCatalog _catalog;
    private readonly TimeProvider _time;
    private readonly PolicyKind _kind;
    private readonly ThreadLocal<Random> _random;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, ServiceView> _views = new(StringComparer.Ordinal);

    public HaloBalancer(HaloServiceCatalog catalog, IOptions<HaloDiscoveryOptions> options, TimeProvider time, IRandomFactory random)
    {
        _catalog = catalog;
        _time = time;
        // The options validator has already refused an unknown name at start.
        _kind = BalancingPolicies.TryParse(options.Value.Balancing, out var kind) ? kind : PolicyKind.PeakEwma;
        _random = new ThreadLocal<Random>(random.Create);
    }

    /// <summary>The instance the next request to <paramref name="service"/> goes to, or null when none is routable.</summary>
    public Choice? Pick(string service)
    {
        var view = View(service);
        var picked = view.Policy.Pick(view.Destinations, new BalancingRequest(null, _random.Value!));
        return picked is null ? null : new Choice(picked, view.Instances[picked]);
    }

    private ServiceView View(string service)
    {
        var routable = _catalog.Routable(service);
        lock (_gate)
        {
            if (_views.TryGetValue(service, out var view) && ReferenceEquals(view.Source, routable))
            {
                return view;
            }

            var next = new ServiceView(routable, view?.Policy ?? BalancingPolicies.Create(_kind));
            foreach (var instance in routable)
            {
                // Same instance at the same address and weight: keep its load signals.
                var old = view?.Instances.FirstOrDefault(kv => SameEndpoint(kv.Value, instance)).Key;
                var destination = old ?? new BalancingDestination(instance.Id, instance.Weight, new PeakEwma(_time, Decay, Initial, FailurePenalty));
                next.Destinations.Add(destination);
                next.Instances[destination] = instance;
            }

            _views[service] = next;
            return next;
        }
    }

    private static bool SameEndpoint(InstanceRecord a, InstanceRecord b) =>
        a.Id == b.Id && a.Address == b.Address && a.Port == b.Port && a.Weight == b.Weight;

    private sealed class ServiceView(IReadOnlyList<InstanceRecord> source, IBalancingPolicy policy)
    {
        public IReadOnlyList<InstanceRecord> Source { get; } = source;
        public IBalancingPolicy Policy { get; } = policy;
        public List<BalancingDestination> Destinations { get; } = [];
        public Dictionary<BalancingDestination, InstanceRecord> Instances { get; } = new(ReferenceEqualityComparer.Instance);
    }
}

/// <summary>A chosen instance and the balancing view whose load signals its request updates.</summary>
internal sealed record Choice(BalancingDestination Destination, InstanceRecord Instance);
