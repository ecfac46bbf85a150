namespace Halo.Core.Balancing;

/// <summary>
/// Power of two choices on peak-EWMA latency × (outstanding + 1) / weight (Finagle, Linkerd): a
/// destination that turns slow is avoided within a few requests, and its estimate decays while it is
/// idle so it is retried later. Fast failures are charged a penalty latency (see <see cref="PeakEwma"/>).
/// </summary>
public sealed class PeakEwmaPolicy : IBalancingPolicy
{
    /// <inheritdoc />
    public BalancingDestination? Pick(IReadOnlyList<BalancingDestination> candidates, BalancingRequest request)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        if (!TwoChoices.TrySample(candidates, request.Random, out var a, out var b))
        {
            return candidates.Count == 1 ? candidates[0] : null;
        }

        return Cost(b) < Cost(a) ? b : a;
    }

    /// <summary>The load score compared between the two choices; lower is better.</summary>
    public static double Cost(BalancingDestination destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        // A floor of 1 µs keeps in-flight counts meaningful when the estimate has decayed to ~0.
        var latency = Math.Max(destination.Latency.EstimateMs, 0.001);
        return latency * (destination.InFlight + 1) / destination.EffectiveWeight;
    }
}
