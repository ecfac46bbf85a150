namespace Halo.Core.Balancing;

/// <summary>
/// nginx's smooth weighted round robin: each pick adds every candidate's weight to its running score,
/// takes the highest score and subtracts the total. Weights {5,1,1} yield a,a,b,a,c,a,a — the heavy
/// destination's turns are spread out instead of sent in a burst.
/// </summary>
public sealed class SmoothWeightedRoundRobinPolicy : IBalancingPolicy
{
    private readonly object _gate = new();
    private readonly Dictionary<string, double> _current = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public BalancingDestination? Pick(IReadOnlyList<BalancingDestination> candidates, BalancingRequest request)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        if (candidates.Count == 0)
        {
            return null;
        }

        lock (_gate)
        {
            // Forget destinations that left so the map cannot grow without bound across membership changes.
            if (_current.Count > candidates.Count * 2)
            {
                _current.Clear();
            }

            BalancingDestination? best = null;
            var bestScore = double.MinValue;
            double total = 0;
            foreach (var d in candidates)
            {
                var w = d.EffectiveWeight;
                total += w;
                var score = _current.GetValueOrDefault(d.Id) + w;
                _current[d.Id] = score;
                if (score > bestScore)
                {
                    bestScore = score;
                    best = d;
                }
            }

            _current[best!.Id] = bestScore - total;
            return best;
        }
    }
}
