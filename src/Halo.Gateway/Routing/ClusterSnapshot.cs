using Halo.Core.Balancing;

namespace Halo.Gateway.Routing;

/// <summary>One pool at one moment: its members and the ones eligible for new requests.</summary>
public sealed record PoolSnapshot(
    IReadOnlyList<DestinationRuntime> Members,
    BalancingDestination[] Eligible,
    int Healthy,
    int NotDraining)
{
    /// <summary>Finds the runtime of a balancing destination (pools are small: a scan beats a dictionary).</summary>
    public DestinationRuntime? Find(BalancingDestination d)
    {
        foreach (var m in Members)
        {
            if (ReferenceEquals(m.Balancing, d))
            {
                return m;
            }
        }

        return null;
    }
}

/// <summary>A cluster's pools, their traffic shares and whether it is in panic; immutable, swapped whole.</summary>
public sealed record ClusterSnapshot(IReadOnlyList<PoolSnapshot> Pools, double[] Shares, bool Panic, long Revision)
{
    /// <summary>An empty snapshot (no destinations yet).</summary>
    public static ClusterSnapshot Empty { get; } = new([], [], false, 0);
}
