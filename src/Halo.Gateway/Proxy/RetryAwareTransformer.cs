using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Yarp.ReverseProxy.Forwarder;

namespace Halo.Gateway.Proxy;

/// <summary>
/// Copies requests and responses as YARP's base transformer does, except that a retryable status
/// (502/503/504 by default) is held back when the request may be retried: the response is not
/// copied, so the client sees nothing of it and the proxy loop tries another destination. Requests carry this
/// gateway's X-Forwarded-* (<see cref="ForwardedHeaders"/>).
/// </summary>
internal sealed class RetryAwareTransformer : HttpTransformer
{
    public static readonly RetryAwareTransformer Instance = new();

    private RetryAwareTransformer()
    {
    }

    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken);
        if (proxyRequest.Headers.NonValidated.Contains("Host") && proxyRequest.Headers.Host is null)
        {
            // An inbound Host Kestrel takes but HttpClient cannot parse (empty, which HTTP/1.1 allows, or longer than a host
            // name may be) went out as a second Host line beside the destination's, and backends refuse two Hosts: send the
            // destination's alone (found by GatewayFuzzTests).
            proxyRequest.Headers.Remove("Host");
        }

        httpContext.RequestServices.GetRequiredService<ForwardedHeaders>().Apply(httpContext, proxyRequest);
    }

    public override ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
    {
        if (proxyResponse is not null
            && httpContext.Features.Get<AttemptFeature>() is { MayRetryStatus: true } attempt
            && attempt.Cluster.Settings.Retry.OnStatus.Contains((int)proxyResponse.StatusCode))
        {
            if (attempt.Cluster.Budget.TryAcquireRetry())
            {
                attempt.Intercepted = true;
                return new ValueTask<bool>(false);
            }

            attempt.BudgetRefused = true;
        }

        return base.TransformResponseAsync(httpContext, proxyResponse, cancellationToken);
    }
}
