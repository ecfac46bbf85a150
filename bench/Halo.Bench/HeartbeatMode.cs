using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace Halo.Bench;

/// <summary>
/// `heartbeat --server URL --instances N --rate-hz R --seconds S [--single] [--batch-size B] [--concurrency C]`:
/// registers N instances, then sends N×R heartbeats per second on an open-loop schedule, either in
/// POST /v1/heartbeats batches (default) or one POST per instance (--single). Latency is measured from the
/// time each request was due, so a server that falls behind shows it instead of hiding it (coordinated omission).
/// --server may name several servers, comma-separated (as Halo's clients take them): instances are registered through the
/// first; a heartbeat request that gets no answer or a 5xx moves every later request to the next server and is sent there
/// once more (it counts as failed only if that fails too). SIGTERM ends the schedule early and still prints the result.
/// </summary>
internal static class HeartbeatMode
{
    public static async Task<int> RunAsync(Args args)
    {
        var servers = args.Require("--server").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s => s.TrimEnd('/')).ToArray();
        var server = servers[0];
        var current = 0;
        long moves = 0;
        var instances = args.Int("--instances", 1000);
        var rateHz = args.Double("--rate-hz", 1);
        var seconds = args.Double("--seconds", 10);
        var single = args.Has("--single");
        var batchSize = single ? 1 : args.Int("--batch-size", 500);
        var concurrency = args.Int("--concurrency", 64);
        using var http = HttpModes.Client(concurrency);
        var service = "bench-hb-" + Guid.NewGuid().ToString("N")[..8];

        var registered = await HttpModes.RegisterInstancesAsync(http, server, service, instances, Math.Min(concurrency, 32), args.Get("--ttl"));
        if (registered.Failures > 0)
        {
            Console.Error.WriteLine($"{registered.Failures} of {instances} registrations failed; heartbeats to them will count as unknown");
        }

        // One period sends every instance once, in ceil(N/B) requests spread evenly across the period.
        var requestsPerPeriod = (instances + batchSize - 1) / batchSize;
        var period = TimeSpan.FromSeconds(1 / rateHz);
        var spacing = period / requestsPerPeriod;
        using var inFlight = new SemaphoreSlim(concurrency);
        var latencies = new Latencies();
        long accepted = 0, unknown = 0, failures = 0;
        var pending = new List<Task>();
        var clock = new RunClock();
        var end = TimeSpan.FromSeconds(seconds);
        using var stop = new CancellationTokenSource();
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, signal =>
        {
            signal.Cancel = true; // end the schedule and report, instead of dying without a result
            stop.Cancel();
        });
        for (long n = 0; ; n++)
        {
            var due = spacing * n;
            if (due >= end || stop.IsCancellationRequested)
            {
                break;
            }

            var wait = due - clock.Elapsed;
            if (wait > TimeSpan.FromMilliseconds(1))
            {
                try
                {
                    await Task.Delay(wait, TimeProvider.System, stop.Token);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }

            // A saturated client waits here, so the schedule slips and the achieved rate shows it.
            await inFlight.WaitAsync();
            var slot = (int)(n % requestsPerPeriod);
            pending.Add(Task.Run(async () =>
            {
                try
                {
                    Task<(long, long)> Send(string to) => single
                        ? SendSingle(http, to, service, slot)
                        : SendBatch(http, to, service, slot * batchSize, Math.Min(batchSize, instances - (slot * batchSize)));
                    var at = Volatile.Read(ref current);
                    var (ok, unknownCount) = await Send(servers[at]);
                    if (ok < 0 && servers.Length > 1)
                    {
                        // Move on, as a client that takes several servers does; only the first to see the failure moves everyone.
                        if (Interlocked.CompareExchange(ref current, (at + 1) % servers.Length, at) == at)
                        {
                            Interlocked.Increment(ref moves);
                        }

                        (ok, unknownCount) = await Send(servers[Volatile.Read(ref current)]);
                    }

                    if (ok >= 0)
                    {
                        Interlocked.Add(ref accepted, ok);
                        Interlocked.Add(ref unknown, unknownCount);
                        latencies.Add((clock.Elapsed - due).TotalMilliseconds);
                    }
                    else
                    {
                        Interlocked.Increment(ref failures);
                    }
                }
                finally
                {
                    inFlight.Release();
                }
            }));
        }

        await Task.WhenAll(pending).WaitAsync(TimeSpan.FromSeconds(60), TimeProvider.System);
        // The schedule spans the whole window even though its last request is due a little before the end.
        var elapsed = stop.IsCancellationRequested ? clock.Elapsed.TotalSeconds : Math.Max(clock.Elapsed.TotalSeconds, seconds);
        var target = instances * rateHz;
        var achieved = accepted / elapsed;
        var mode = single ? "heartbeat-single" : "heartbeat-batch";
        Report.Result(mode, $"instances={instances} batch={batchSize} seconds={elapsed:F1} target={target:F0}/s rate={achieved:F0}/s achieved={achieved / target:P0} requests={latencies.Count} {latencies.Summary()} unknown={unknown} errors={failures}{(servers.Length > 1 ? $" server-moves={moves}" : "")}");
        return failures == 0 && unknown == 0 ? 0 : 1;
    }

    /// <summary>
    /// `heartbeat-max --server URL --instances N --seconds S --concurrency C`: the heartbeat rate a server sustains, closed
    /// loop (C workers, one POST .../heartbeat each, no schedule): the same standard as etcd-put's puts/s at concurrency C.
    /// </summary>
    public static async Task<int> RunMaxAsync(Args args)
    {
        var server = args.Require("--server").TrimEnd('/');
        var instances = args.Int("--instances", 2000);
        var seconds = args.Double("--seconds", 10);
        var concurrency = args.Int("--concurrency", 32);
        using var http = HttpModes.Client(concurrency);
        var service = "bench-hbmax-" + Guid.NewGuid().ToString("N")[..8];
        var registered = await HttpModes.RegisterInstancesAsync(http, server, service, instances, concurrency, args.Get("--ttl"));
        if (registered.Failures > 0)
        {
            Console.Error.WriteLine($"{registered.Failures} of {instances} registrations failed");
            return 1;
        }

        // The server limits each token to limits.requestsPerSecondPerToken (25,000/s by default), and one token for all
        // workers measured that limit instead of the pipeline. A fleet heartbeats with many tokens (one per app), so the
        // workers are split over --tokens register tokens (default: one per 8 workers), created here with the admin token.
        var groups = await WorkerClientsAsync(http, server, concurrency, args.Int("--tokens", Math.Max(1, concurrency / 8)));
        var latencies = new Latencies();
        long failures = 0, next = -1;
        var cpu = Environment.CpuUsage.TotalTime;
        var clock = new RunClock();
        var end = TimeSpan.FromSeconds(seconds);
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(worker => Task.Run(async () =>
        {
            var client = groups[worker % groups.Count];
            while (clock.Elapsed < end)
            {
                var started = clock.Elapsed;
                var (ok, _) = await SendSingle(client, server, service, (int)(Interlocked.Increment(ref next) % instances));
                if (ok == 1)
                {
                    latencies.Add((clock.Elapsed - started).TotalMilliseconds);
                }
                else
                {
                    Interlocked.Increment(ref failures);
                }
            }
        })));
        var elapsed = clock.Elapsed.TotalSeconds;
        foreach (var group in groups.Where(g => g != http))
        {
            group.Dispose();
        }

        Report.Result("heartbeat-max", $"instances={instances} concurrency={concurrency} tokens={groups.Count} seconds={elapsed:F1} ok={latencies.Count} rate={latencies.Count / elapsed:F0}/s {latencies.Summary()} errors={failures} {Report.ClientCpu(cpu, latencies.Count)}");
        return failures == 0 ? 0 : 1;
    }

    /// <summary>
    /// <paramref name="tokens"/> clients, each with its own register token (POST /v1/tokens with <paramref name="admin"/>'s
    /// token) and its share of the connections; just <paramref name="admin"/> when one is asked for or the server is open.
    /// </summary>
    private static async Task<List<HttpClient>> WorkerClientsAsync(HttpClient admin, string server, int concurrency, int tokens)
    {
        if (tokens <= 1 || admin.DefaultRequestHeaders.Authorization is null)
        {
            return [admin];
        }

        var clients = new List<HttpClient>();
        var run = Guid.NewGuid().ToString("N")[..6];
        for (var i = 0; i < tokens; i++)
        {
            using var response = await admin.PostAsync($"{server}/v1/tokens", HttpModes.Json(new { name = $"bench-hb-{run}-{i}", role = "register" }));
            response.EnsureSuccessStatusCode();
            using var created = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync());
            clients.Add(HttpModes.Client(Math.Max(1, concurrency / tokens), created.RootElement.GetProperty("token").GetString()));
        }

        return clients;
    }

    private static async Task<(long Accepted, long Unknown)> SendSingle(HttpClient http, string server, string service, int instance)
    {
        using var response = await HttpModes.Send(http, HttpMethod.Post, $"{server}/v1/services/{service}/instances/{HttpModes.InstanceId(instance)}/heartbeat");
        if (response is { IsSuccessStatusCode: true })
        {
            return (1, 0);
        }

        if (response is { StatusCode: System.Net.HttpStatusCode.NotFound })
        {
            return (0, 1);
        }

        await HttpModes.ReportFailure(response, 1);
        return (-1, 0);
    }

    private static async Task<(long Accepted, long Unknown)> SendBatch(HttpClient http, string server, string service, int first, int count)
    {
        var body = new { instances = Enumerable.Range(first, count).Select(i => new { service, id = HttpModes.InstanceId(i) }).ToArray() };
        using var response = await HttpModes.Send(http, HttpMethod.Post, $"{server}/v1/heartbeats", HttpModes.Json(body));
        if (response is not { IsSuccessStatusCode: true })
        {
            await HttpModes.ReportFailure(response, 1);
            return (-1, 0);
        }

        using var answer = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync());
        var accepted = answer.RootElement.TryGetProperty("accepted", out var a) ? a.GetInt64() : count;
        var unknown = answer.RootElement.TryGetProperty("unknown", out var u) && u.ValueKind == JsonValueKind.Array ? u.GetArrayLength() : 0;
        return (accepted, unknown);
    }
}
