namespace Halo.Core.Balancing;

/// <summary>Which balancing algorithm a caller uses (a gateway cluster, a discovery client).</summary>
public enum PolicyKind
{
    /// <summary>Round robin.</summary>
    RoundRobin,
    /// <summary>nginx smooth weighted round robin.</summary>
    WeightedRoundRobin,
    /// <summary>Least outstanding requests.</summary>
    LeastRequests,
    /// <summary>Power of two choices on outstanding requests.</summary>
    PowerOfTwoChoices,
    /// <summary>Power of two choices on peak-EWMA latency.</summary>
    PeakEwma,
    /// <summary>Ring hash with bounded load.</summary>
    ConsistentHash,
    /// <summary>Weighted random.</summary>
    Random,
}

/// <summary>
/// The balancing policies by their configuration names, so the gateway's <c>policy:</c> and a discovery client's
/// <c>Balancing</c> option spell and build them the same way.
/// </summary>
public static class BalancingPolicies
{
    /// <summary>The accepted names, for error messages.</summary>
    public const string Names = "round-robin, weighted-round-robin, least-requests, p2c, peak-ewma, consistent-hash, random";

    /// <summary>Reads a policy name (case-insensitive; <c>power-of-two-choices</c> and <c>ewma</c> are aliases).</summary>
    public static bool TryParse(string? text, out PolicyKind kind)
    {
        PolicyKind? parsed = text?.ToLowerInvariant() switch
        {
            "round-robin" => PolicyKind.RoundRobin,
            "weighted-round-robin" => PolicyKind.WeightedRoundRobin,
            "least-requests" => PolicyKind.LeastRequests,
            "p2c" or "power-of-two-choices" => PolicyKind.PowerOfTwoChoices,
            "peak-ewma" or "ewma" => PolicyKind.PeakEwma,
            "consistent-hash" => PolicyKind.ConsistentHash,
            "random" => PolicyKind.Random,
            _ => null,
        };
        kind = parsed.GetValueOrDefault();
        return parsed is not null;
    }

    /// <summary>A new policy instance of <paramref name="kind"/> (policies keep per-caller state such as the round-robin cursor).</summary>
    public static IBalancingPolicy Create(PolicyKind kind, double hashLoadFactor = 1.25) => kind switch
    {
        PolicyKind.RoundRobin => new RoundRobinPolicy(),
        PolicyKind.WeightedRoundRobin => new SmoothWeightedRoundRobinPolicy(),
        PolicyKind.LeastRequests => new LeastRequestsPolicy(),
        PolicyKind.PowerOfTwoChoices => new PowerOfTwoChoicesPolicy(),
        PolicyKind.PeakEwma => new PeakEwmaPolicy(),
        PolicyKind.ConsistentHash => new ConsistentHashPolicy(hashLoadFactor),
        PolicyKind.Random => new RandomPolicy(),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown policy"),
    };
}
