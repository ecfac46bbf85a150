using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Halo.Gateway.Routing;
using Yarp.ReverseProxy.Forwarder;

namespace Halo.Gateway.Proxy;

/// <summary>One pooled HTTP client and request config per cluster (connect and per-try timeouts differ by cluster).</summary>
public sealed class ForwarderClients : IDisposable
{
    private readonly ConcurrentDictionary<string, (HttpMessageInvoker Client, ForwarderRequestConfig Config)> _byCluster = new(StringComparer.Ordinal);

    public (HttpMessageInvoker Client, ForwarderRequestConfig Config) For(ClusterRuntime cluster) =>
        _byCluster.GetOrAdd(cluster.Name, static (_, c) => Create(c), cluster);

    private static (HttpMessageInvoker, ForwarderRequestConfig) Create(ClusterRuntime cluster)
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            EnableMultipleHttp2Connections = true,
            // A refused or unreachable backend must fail fast so the retry still fits the caller's patience.
            ConnectTimeout = cluster.Settings.ConnectTimeout,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            ActivityHeadersPropagator = DistributedContextPropagator.CreateNoOutputPropagator(),
            // Kestrel reads header values as ASCII or else UTF-8; send them back out the same way. HttpClient's default refuses
            // non-ASCII values, which answered a client's UTF-8 header with 502 and counted it against the destination (found by
            // GatewayFuzzTests).
            RequestHeaderEncodingSelector = static (_, _) => System.Text.Encoding.UTF8,
        };
        cluster.Settings.Tls?.Apply(handler.SslOptions);

        var config = new ForwarderRequestConfig
        {
            // YARP's activity timeout bounds the wait for response headers and each body read:
            // a frozen backend (SIGSTOP, GC spiral) costs at most this per try.
            ActivityTimeout = cluster.Settings.Retry.PerTryTimeout,
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
        };

        return (new HttpMessageInvoker(handler, disposeHandler: true), config);
    }

    public void Dispose()
    {
        foreach (var (client, _) in _byCluster.Values)
        {
            client.Dispose();
        }
    }
}
