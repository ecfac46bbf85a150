namespace Halo.Core.Balancing;

/// <summary>Weighted random choice; a baseline and the right answer when nothing else is known.</summary>
public sealed class RandomPolicy : IBalancingPolicy
{
    /// <inheritdoc />
    public BalancingDestination? Pick(IReadOnlyList<BalancingDestination> candidates, BalancingRequest request)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        if (candidates.Count == 0)
        {
            return null;
        }

        double total = 0;
        foreach (var d in candidates)
        {
            total += d.EffectiveWeight;
        }

        var point = request.Random.NextDouble() * total;
        foreach (var d in candidates)
        {
            point -= d.EffectiveWeight;
            if (point < 0)
            {
                return d;
            }
        }

        // Rounding can leave point at exactly 0 after the last subtraction.
        return candidates[^1];
    }
}
