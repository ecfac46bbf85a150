using System.Text;
using Halo.Gateway.Configuration;
using Halo.Gateway.Routing;
using Halo.Gateway.Telemetry;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Halo.Gateway.Proxy;

/// <summary>
/// When a request may be tried again, shared by both forwarding paths (the HTTP/1.1 fast path and the
/// YARP path) so they retry, time out and spend the budget the same way.
/// </summary>
internal static class RetryRules
{
    /// <summary>Idempotent by method (RFC 9110 9.2.2), or marked safe to retry by the configured header.</summary>
    public static bool IsRetryableRequest(HttpRequest request, RetrySettings retry) =>
        HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method) || HttpMethods.IsOptions(request.Method)
        || HttpMethods.IsPut(request.Method) || HttpMethods.IsDelete(request.Method) || HttpMethods.IsTrace(request.Method)
        || (retry.IdempotencyHeader is { } h && request.Headers.ContainsKey(h));

    /// <summary>The same rule for a method as raw bytes (the fast path's request line).</summary>
    public static bool IsIdempotentMethod(ReadOnlySpan<byte> method) => method.Length switch
    {
        3 => method.SequenceEqual("GET"u8) || method.SequenceEqual("PUT"u8),
        4 => method.SequenceEqual("HEAD"u8),
        5 => method.SequenceEqual("TRACE"u8),
        6 => method.SequenceEqual("DELETE"u8),
        7 => method.SequenceEqual("OPTIONS"u8),
        _ => false,
    };

    /// <summary>
    /// The per-try timeout: fixed, or (adaptive) a multiple of this destination's latency estimate
    /// within [min, perTryTimeout], so a backend that is usually fast is abandoned sooner when it stalls.
    /// </summary>
    public static TimeSpan TryTimeout(RetrySettings retry, DestinationRuntime destination)
    {
        if (retry.Adaptive is not { } adaptive)
        {
            return retry.PerTryTimeout;
        }

        var derived = TimeSpan.FromMilliseconds(adaptive.Multiplier * destination.Balancing.Latency.EstimateMs);
        return derived < adaptive.Min ? adaptive.Min : derived > retry.PerTryTimeout ? retry.PerTryTimeout : derived;
    }

    /// <summary>
    /// After a failure before any response byte reached the client: whether another attempt is allowed
    /// (request retryable, attempts left, client still there) and the budget grants it. A refusal by the
    /// budget is counted and logged.
    /// </summary>
    public static bool MayRetryFailure(bool retryable, int attempt, int attempts, bool clientGone, ClusterRuntime cluster, GatewayMetrics metrics, ILogger logger)
    {
        if (!retryable || attempt + 1 >= attempts || clientGone)
        {
            return false;
        }

        if (cluster.Budget.TryAcquireRetry())
        {
            return true;
        }

        BudgetExhausted(cluster, metrics, logger);
        return false;
    }

    /// <summary>Counts and logs a retry the budget refused.</summary>
    public static void BudgetExhausted(ClusterRuntime cluster, GatewayMetrics metrics, ILogger logger)
    {
        metrics.BudgetExhausted(cluster.Name);
        Log.BudgetExhausted(logger, cluster.Name);
    }

    /// <summary>The idempotency header's name as ASCII bytes (null when not configured).</summary>
    public static byte[]? HeaderBytes(string? name) => name is null ? null : Encoding.ASCII.GetBytes(name);
}
