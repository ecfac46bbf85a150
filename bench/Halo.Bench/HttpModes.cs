using System.Globalization;
using System.Text;
using System.Net.Http.Headers;
using System.Text.Json;

namespace Halo.Bench;

/// <summary>
/// Load against a running `halo server` through the API in docs/api.md:
/// `register` (durable registrations per second) and `heartbeat` (a sustained heartbeat rate from many instances).
/// </summary>
internal static class HttpModes
{
    public static async Task<int> RegisterAsync(Args args)
    {
        var server = args.Require("--server").TrimEnd('/');
        var count = args.Int("--count", 10_000);
        var concurrency = args.Int("--concurrency", 16);
        using var http = Client(concurrency);
        var service = "bench-" + Guid.NewGuid().ToString("N")[..8];
        var cpu = Environment.CpuUsage.TotalTime;
        var (latencies, failures, elapsed) = await RegisterInstancesAsync(http, server, service, count, concurrency, args.Get("--ttl"));
        Report.Result("register", $"count={count} concurrency={concurrency} seconds={elapsed:F1} ok={latencies.Count} rate={latencies.Count / elapsed:F0}/s {latencies.Summary()} errors={failures} {Report.ClientCpu(cpu, latencies.Count)}");
        return failures == 0 ? 0 : 1;
    }

    /// <summary>PUTs <paramref name="count"/> instances of <paramref name="service"/> with a closed loop of C workers.</summary>
    public static async Task<(Latencies Latencies, long Failures, double Seconds)> RegisterInstancesAsync(
        HttpClient http, string server, string service, int count, int concurrency, string? ttl)
    {
        var latencies = new Latencies();
        var failures = 0L;
        var next = -1;
        var clock = new RunClock();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                var started = clock.Elapsed;
                using var response = await Send(http, HttpMethod.Put, $"{server}/v1/services/{service}/instances/{InstanceId(i)}", RegistrationBody(i, ttl));
                if (response is { IsSuccessStatusCode: true })
                {
                    latencies.Add((clock.Elapsed - started).TotalMilliseconds);
                }
                else
                {
                    await ReportFailure(response, Interlocked.Increment(ref failures));
                }
            }
        })));
        return (latencies, failures, clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// The registration body, written directly as UTF-8: the load generator shares the two cores with the server, so it
    /// should cost no more per request than etcd-put's client does building its protobuf (reflection-serializing a
    /// dictionary per request was ~1/3 of the client's CPU). The bytes are those any client sends.
    /// </summary>
    public static HttpContent RegistrationBody(int i, string? ttl)
    {
        var json = ttl is null
            ? string.Create(CultureInfo.InvariantCulture, $$"""{"address":"127.0.0.1","port":{{10_000 + (i % 50_000)}},"weight":100}""")
            : string.Create(CultureInfo.InvariantCulture, $$"""{"address":"127.0.0.1","port":{{10_000 + (i % 50_000)}},"weight":100,"ttl":{{JsonSerializer.Serialize(ttl)}}}""");
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(json));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }

    /// <summary>A JSON body with a Content-Length (not chunked), as a typical client sends it.</summary>
    public static HttpContent Json(object body)
    {
        var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(body));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }

    public static string InstanceId(int i) => $"i-{i:D6}";

    /// <summary>
    /// A client with <paramref name="connections"/> connections and <paramref name="token"/> when given. HALO_TOKEN_FILE (a bearer token) and HALO_CA_CERT (the CA
    /// of an HTTPS server, pinned) let the same runs measure a server with auth and TLS on (bench/security).
    /// </summary>
    public static HttpClient Client(int connections, string? token = null)
    {
        // The pinning is Halo.Client's own (HaloHttp), so the TLS cost measured is the one every role pays.
        var handler = Environment.GetEnvironmentVariable("HALO_CA_CERT") is { Length: > 0 } ca
            ? Halo.Client.HaloHttp.CreateTransport(new Halo.Client.HaloClientOptions { Servers = [new Uri("https://127.0.0.1")], CaCertificateFile = ca })
            : new SocketsHttpHandler { UseProxy = false };
        handler.MaxConnectionsPerServer = Math.Max(1, connections);
        var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
        if (Http2)
        {
            http.DefaultRequestVersion = System.Net.HttpVersion.Version20;
            http.DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        }

        if (token is not null)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        else if (Environment.GetEnvironmentVariable("HALO_TOKEN_FILE") is { Length: > 0 } tokenFile)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", File.ReadAllText(tokenFile).Trim());
        }

        return http;
    }

    /// <summary>Sends and returns the response, or null when the request failed below HTTP (refused, reset, timed out).</summary>
    public static async Task<HttpResponseMessage?> Send(HttpClient http, HttpMethod method, string url, HttpContent? content = null)
    {
        try
        {
            using var request = new HttpRequestMessage(method, url) { Content = content };
            if (Http2)
            {
                // An experiment, not what Halo.Client does: every worker's requests as streams of one HTTP/2 connection
                // (h2c, prior knowledge), as etcd's gRPC client multiplexes its puts.
                request.Version = System.Net.HttpVersion.Version20;
                request.VersionPolicy = HttpVersionPolicy.RequestVersionExact;
            }

            return await http.SendAsync(request);
        }
        catch (Exception error) when (error is HttpRequestException or TaskCanceledException)
        {
            return null;
        }
    }

    /// <summary>HALO_BENCH_HTTP2=1: requests over cleartext HTTP/2 (the server must accept it; bench/registry/run.sh HTTP2=1).</summary>
    public static readonly bool Http2 = Environment.GetEnvironmentVariable("HALO_BENCH_HTTP2") == "1";

    private static int _printed;

    public static async Task ReportFailure(HttpResponseMessage? response, long failureNumber)
    {
        // The first few failures are printed in full; a flood of identical ones is only counted (callers that do not
        // number their failures pass 1: at most 10 are printed per process, e.g. heartbeat-max meeting the rate limit).
        if (failureNumber <= 3 && Interlocked.Increment(ref _printed) <= 10)
        {
            var detail = response is null ? "no response" : $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
            await Console.Error.WriteLineAsync($"request failed: {detail}");
        }
    }
}
