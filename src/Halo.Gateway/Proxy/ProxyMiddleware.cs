using Halo.Core.Balancing;
using Halo.Gateway.Configuration;
using Halo.Gateway.Routing;
using Halo.Gateway.Telemetry;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;

namespace Halo.Gateway.Proxy;

/// <summary>
/// The data path: match a route, pick a destination, forward with YARP's <see cref="IHttpForwarder"/>,
/// and retry on a different destination when it is safe — idempotent method (or idempotency header),
/// nothing sent to the client yet, a connect failure / reset / per-try timeout / retryable status,
/// attempts left and the retry budget allows. YARP's own proxy pipeline does not retry; this loop does.
/// </summary>
internal sealed class ProxyMiddleware
{
    [ThreadStatic]
    private static Random? t_random;

    private readonly RoutingTableHolder _tables;
    private readonly IHttpForwarder _forwarder;
    private readonly ForwarderClients _clients;
    private readonly GatewayMetrics _metrics;
    private readonly IRandomFactory _randomFactory;
    private readonly TimeProvider _time;
    private readonly ILogger<ProxyMiddleware> _logger;

    public ProxyMiddleware(RoutingTableHolder tables, IHttpForwarder forwarder, ForwarderClients clients, GatewayMetrics metrics,
        IRandomFactory randomFactory, TimeProvider time, ILogger<ProxyMiddleware> logger)
    {
        _tables = tables;
        _forwarder = forwarder;
        _clients = clients;
        _metrics = metrics;
        _randomFactory = randomFactory;
        _time = time;
        _logger = logger;
    }

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        // Endpoints of the gateway itself (/metrics) take precedence over proxied routes.
        if (context.GetEndpoint() is not null)
        {
            await next(context);
            return;
        }

        var route = _tables.Current?.Match(context.Request.Host.Value ?? "", context.Request.Path.Value ?? "/");
        if (route is null)
        {
            context.Response.StatusCode = _tables.Current is null ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status404NotFound;
            return;
        }

        if (HttpMethods.IsConnect(context.Request.Method))
        {
            // A reverse proxy does not tunnel. YARP cannot build a CONNECT request (RequestCreation) and answered 502, blaming
            // a healthy destination: a few such requests ejected it (found by GatewayFuzzTests).
            context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            return;
        }

        var cluster = route.Cluster;
        var retry = cluster.Settings.Retry;
        var started = _time.GetTimestamp();
        var retryable = retry.Attempts > 1 && RetryRules.IsRetryableRequest(context.Request, retry);
        byte[]? body = null;
        if (retryable && RequestHasBody(context.Request))
        {
            try
            {
                body = await ReplayableBody.TryBufferAsync(context.Request, retry.MaxReplayBodyBytes, context.RequestAborted);
            }
            catch (IOException) when (!context.Response.HasStarted)
            {
                // The client's body cannot be read (a chunk size Kestrel cannot parse, a reset mid-body): the client's fault, a
                // 400. Unhandled, it was a 500 from the gateway itself (found by GatewayFuzzTests).
                context.Response.StatusCode = StatusCodes.Status400BadRequest;
                _metrics.RequestCompleted(cluster.Name, null, context.Response.StatusCode, _time.GetElapsedTime(started).TotalSeconds);
                return;
            }

            retryable = body is not null;
        }

        cluster.Budget.RecordRequest();
        var attempt = new AttemptFeature { Cluster = cluster };
        context.Features.Set(attempt);
        var (client, config) = _clients.For(cluster);
        var request = new BalancingRequest(HashKey(context, cluster.Settings), t_random ??= _randomFactory.Create());
        List<DestinationRuntime>? tried = null;
        DestinationRuntime? last = null;

        for (var n = 0; ; n++)
        {
            var destination = cluster.Pick(request, tried);
            if (destination is null)
            {
                // Nothing to try at all: 503. Every destination tried: keep the last attempt's answer (e.g. 504).
                if (n == 0 && !context.Response.HasStarted)
                {
                    ResetResponse(context);
                    context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                }

                break;
            }

            if (n > 0)
            {
                ResetResponse(context);
            }

            if (body is not null)
            {
                context.Request.Body = new MemoryStream(body, writable: false);
            }

            attempt.MayRetryStatus = retryable && n + 1 < retry.Attempts;
            attempt.Intercepted = false;
            attempt.BudgetRefused = false;
            destination.Balancing.Begin();
            var t0 = _time.GetTimestamp();
            ForwarderError error;
            try
            {
                error = await _forwarder.SendAsync(context, destination.Prefix, client, TryConfig(config, retry, destination), RetryAwareTransformer.Instance);
            }
            finally
            {
                destination.Balancing.End();
            }

            last = destination;
            var failure = Classify(error, attempt.Intercepted, context.Response.StatusCode);
            cluster.RecordOutcome(destination, _time.GetElapsedTime(t0), failure);
            if (attempt.BudgetRefused)
            {
                RetryRules.BudgetExhausted(cluster, _metrics, _logger);
            }

            if (failure == FailureKind.None || !ShouldRetry(context, error, attempt, retryable, n, retry.Attempts, cluster))
            {
                break;
            }

            _metrics.Retried(cluster.Name, failure.ToString());
            (tried ??= []).Add(destination);
        }

        _metrics.RequestCompleted(cluster.Name, last?.Name, context.Response.StatusCode, _time.GetElapsedTime(started).TotalSeconds);
    }

    private bool ShouldRetry(HttpContext context, ForwarderError error, AttemptFeature attempt, bool retryable, int n, int attempts, ClusterRuntime cluster)
    {
        if (attempt.Intercepted)
        {
            // The budget was already charged when the response was held back.
            return true;
        }

        // Only failures before any response byte: connecting, sending, or waiting for headers.
        if (context.Response.HasStarted
            || error is not (ForwarderError.Request or ForwarderError.RequestTimedOut or ForwarderError.ResponseHeaders))
        {
            return false;
        }

        return RetryRules.MayRetryFailure(retryable, n, attempts, context.RequestAborted.IsCancellationRequested, cluster, _metrics, _logger);
    }

    /// <summary>
    /// The per-try timeout: fixed, or (adaptive) a multiple of this destination's latency estimate
    /// within [min, perTryTimeout], so a backend that is usually fast is abandoned sooner when it stalls.
    /// </summary>
    internal static ForwarderRequestConfig TryConfig(ForwarderRequestConfig config, RetrySettings retry, DestinationRuntime destination) =>
        retry.Adaptive is null ? config : config with { ActivityTimeout = RetryRules.TryTimeout(retry, destination) };

    internal static FailureKind Classify(ForwarderError error, bool intercepted, int status) => error switch
    {
        _ when intercepted => FailureKind.ServerError,
        ForwarderError.None => status >= 500 ? FailureKind.ServerError : FailureKind.None,
        ForwarderError.RequestTimedOut => FailureKind.Timeout,
        ForwarderError.Request or ForwarderError.ResponseHeaders
            or ForwarderError.ResponseBodyDestination or ForwarderError.RequestBodyDestination => FailureKind.Connect,
        // The client went away, sent a bad body, or a request that cannot be forwarded (RequestCreation: nothing reached the
        // destination): not the destination's fault.
        _ => FailureKind.None,
    };

    private static void ResetResponse(HttpContext context)
    {
        context.Response.Clear();
        context.Features.Set<IForwarderErrorFeature>(null);
    }

    private static bool RequestHasBody(HttpRequest request) =>
        request.ContentLength > 0 || (request.ContentLength is null && request.Headers.ContainsKey("Transfer-Encoding"));

    private static string? HashKey(HttpContext context, ClusterSettings settings)
    {
        if (settings.Policy != PolicyKind.ConsistentHash)
        {
            return null;
        }

        return settings.HashOn switch
        {
            HashSource.Header => context.Request.Headers.TryGetValue(settings.HashName!, out var v) ? v.ToString() : null,
            HashSource.Cookie => context.Request.Cookies.TryGetValue(settings.HashName!, out var c) ? c : null,
            _ => context.Connection.RemoteIpAddress?.ToString(),
        };
    }
}
