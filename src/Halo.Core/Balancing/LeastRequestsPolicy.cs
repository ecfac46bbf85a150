namespace Halo.Core.Balancing;

/// <summary>
/// Least outstanding requests relative to weight, scanning every candidate. Ties are broken by a
/// rotating start so that at low load (all idle) traffic still spreads instead of piling on the first.
/// </summary>
public sealed class LeastRequestsPolicy : IBalancingPolicy
{
    private uint _start;

    /// <inheritdoc />
    public BalancingDestination? Pick(IReadOnlyList<BalancingDestination> candidates, BalancingRequest request)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        var count = candidates.Count;
        if (count == 0)
        {
            return null;
        }

        var start = (int)(Interlocked.Increment(ref _start) % (uint)count);
        BalancingDestination? best = null;
        var bestCost = double.MaxValue;
        for (var i = 0; i < count; i++)
        {
            var d = candidates[(start + i) % count];
            var cost = (d.InFlight + 1) / d.EffectiveWeight;
            if (cost < bestCost)
            {
                bestCost = cost;
                best = d;
            }
        }

        return best;
    }
}
