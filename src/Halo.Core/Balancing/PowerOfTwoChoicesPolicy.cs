namespace Halo.Core.Balancing;

/// <summary>
/// Power of two choices (Mitzenmacher): sample two distinct candidates at random, keep the one with
/// fewer outstanding requests per unit weight. Nearly as good as least-requests, without a full scan
/// and without the herd effect of every balancer choosing the same least-loaded destination.
/// </summary>
public sealed class PowerOfTwoChoicesPolicy : IBalancingPolicy
{
    /// <inheritdoc />
    public BalancingDestination? Pick(IReadOnlyList<BalancingDestination> candidates, BalancingRequest request)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        if (!TwoChoices.TrySample(candidates, request.Random, out var a, out var b))
        {
            return candidates.Count == 1 ? candidates[0] : null;
        }

        var costA = (a.InFlight + 1) / a.EffectiveWeight;
        var costB = (b.InFlight + 1) / b.EffectiveWeight;
        return costB < costA ? b : a;
    }
}

/// <summary>Samples two distinct candidates uniformly.</summary>
internal static class TwoChoices
{
    public static bool TrySample(IReadOnlyList<BalancingDestination> candidates, Random random,
        out BalancingDestination a, out BalancingDestination b)
    {
        var count = candidates.Count;
        if (count < 2)
        {
            a = b = null!;
            return false;
        }

        var i = random.Next(count);
        // Draw from count-1 and skip i so the two are distinct without a retry loop.
        var j = random.Next(count - 1);
        if (j >= i)
        {
            j++;
        }

        a = candidates[i];
        b = candidates[j];
        return true;
    }
}
