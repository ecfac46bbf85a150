using Halo.Gateway.Routing;

namespace Halo.Gateway.Proxy;

/// <summary>
/// Per-request retry state shared between the proxy loop and <see cref="RetryAwareTransformer"/>:
/// whether this attempt may still be retried on a bad status, and whether the transformer held
/// back a retryable response (so nothing reached the client and the next attempt can proceed).
/// </summary>
internal sealed class AttemptFeature
{
    public required ClusterRuntime Cluster { get; init; }

    /// <summary>True when a retryable status on this attempt may be retried (attempts and method allow).</summary>
    public bool MayRetryStatus { get; set; }

    /// <summary>Set by the transformer when it swallowed a retryable response and took a retry from the budget.</summary>
    public bool Intercepted { get; set; }

    /// <summary>Set by the transformer when a retry was wanted but the budget refused it.</summary>
    public bool BudgetRefused { get; set; }
}
