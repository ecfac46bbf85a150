namespace Halo.Core.Balancing;

/// <summary>Plain round robin: each candidate in turn, ignoring weight.</summary>
public sealed class RoundRobinPolicy : IBalancingPolicy
{
    private uint _next = uint.MaxValue;

    /// <inheritdoc />
    public BalancingDestination? Pick(IReadOnlyList<BalancingDestination> candidates, BalancingRequest request)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        if (candidates.Count == 0)
        {
            return null;
        }

        // Unsigned wrap-around keeps the index valid after 2^32 requests.
        var n = Interlocked.Increment(ref _next);
        return candidates[(int)(n % (uint)candidates.Count)];
    }
}
