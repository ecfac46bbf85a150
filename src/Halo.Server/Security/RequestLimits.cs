using System.Globalization;
using System.Net;
using System.Threading.RateLimiting;
using Halo.Core.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;

namespace Halo.Server.Security;

/// <summary>
/// Request rates per source address and per token (ASP.NET Core rate limiting, token buckets holding one second's worth)
/// and Kestrel's connection and header limits, all from <see cref="LimitOptions"/>.
/// </summary>
internal static class RequestLimits
{
    private const string RefusedBy = "halo.rate.limit";

    /// <summary>Kestrel's limits, set on purpose rather than inherited (docs/security.md, "Limits").</summary>
    public static void ApplyTo(KestrelServerLimits kestrel, LimitOptions limits)
    {
        kestrel.MaxConcurrentConnections = limits.MaxConnections;
        // No WebSockets or other upgrades are served; an upgrade attempt holds nothing.
        kestrel.MaxConcurrentUpgradedConnections = 0;
        kestrel.MaxRequestHeaderCount = limits.MaxRequestHeaderCount;
        kestrel.MaxRequestHeadersTotalSize = limits.MaxRequestHeadersBytes;
        kestrel.MaxRequestLineSize = Math.Min(8 * 1024, limits.MaxRequestHeadersBytes);
        kestrel.RequestHeadersTimeout = limits.RequestHeadersTimeout;
        kestrel.KeepAliveTimeout = limits.KeepAliveTimeout;
        kestrel.Http2.MaxStreamsPerConnection = 100;
    }

    public static IServiceCollection AddHaloRequestLimits(this IServiceCollection services, LimitOptions limits) =>
        services.AddRateLimiter(o =>
        {
            // Source first: a flood without a valid token never reaches a token's bucket. Partitions idle for 10 s are
            // dropped by the framework, so memory follows the active callers, not every address ever seen.
            o.GlobalLimiter = PartitionedRateLimiter.CreateChained(
                PartitionedRateLimiter.Create<HttpContext, IPAddress>(c =>
                {
                    c.Items[RefusedBy] = "limits.requestsPerSecondPerSource";
                    return RateLimitPartition.GetTokenBucketLimiter(Caller.Ip(c) ?? IPAddress.None, _ => Bucket(limits.RequestsPerSecondPerSource));
                }),
                PartitionedRateLimiter.Create<HttpContext, string>(c =>
                {
                    if (Caller.Of(c) is not { } caller)
                    {
                        return RateLimitPartition.GetNoLimiter(string.Empty);
                    }

                    c.Items[RefusedBy] = "limits.requestsPerSecondPerToken";
                    return RateLimitPartition.GetTokenBucketLimiter(caller.Name, _ => Bucket(limits.RequestsPerSecondPerToken));
                }));
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            o.OnRejected = (rejected, ct) =>
            {
                var context = rejected.HttpContext;
                var key = context.Items[RefusedBy] as string ?? "limits.requestsPerSecondPerSource";
                var retry = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? Math.Max(1, (int)Math.Ceiling(after.TotalSeconds)) : 1;
                context.Response.Headers.RetryAfter = retry.ToString(CultureInfo.InvariantCulture);
                context.RequestServices.GetRequiredService<SecurityMetrics>().Refused("rate");
                var detail = key.EndsWith("Token", StringComparison.Ordinal)
                    ? $"this token made more than {limits.RequestsPerSecondPerToken} requests per second ({key}); retry after {retry} s"
                    : $"this address made more than {limits.RequestsPerSecondPerSource} requests per second ({key}); retry after {retry} s";
                return new ValueTask(Results.Problem(title: "Too many requests", detail: detail, statusCode: StatusCodes.Status429TooManyRequests,
                    extensions: new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { [key] = [detail] } }).ExecuteAsync(context));
            };
        });

    /// <summary>
    /// A bucket of one second's requests, refilled in tenths of a second (whole seconds below 10/s). Not auto-replenished:
    /// the partitioned limiter's own 100 ms tick refills every partition, so there is no timer per caller.
    /// </summary>
    private static TokenBucketRateLimiterOptions Bucket(int perSecond) => new()
    {
        TokenLimit = perSecond,
        TokensPerPeriod = perSecond >= 10 ? perSecond / 10 : perSecond,
        ReplenishmentPeriod = perSecond >= 10 ? TimeSpan.FromMilliseconds(100) : TimeSpan.FromSeconds(1),
        QueueLimit = 0,
        AutoReplenishment = false,
    };
}
