namespace Halo.Core.Balancing;

/// <summary>What a policy may know about the request it places.</summary>
/// <param name="HashKey">Affinity key (client IP, header or cookie value) for consistent hashing; null when absent.</param>
/// <param name="Random">The caller's per-thread random source.</param>
public readonly record struct BalancingRequest(string? HashKey, Random Random);

/// <summary>
/// Chooses one destination among eligible candidates. Implementations are pure decision cores:
/// no I/O, no clock reads except through injected providers, safe for concurrent callers.
/// </summary>
public interface IBalancingPolicy
{
    /// <summary>Picks a destination, or null when <paramref name="candidates"/> is empty.</summary>
    BalancingDestination? Pick(IReadOnlyList<BalancingDestination> candidates, BalancingRequest request);
}
