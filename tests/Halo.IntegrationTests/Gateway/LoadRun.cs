using System.Collections.Concurrent;
using System.Diagnostics;

namespace Halo.IntegrationTests.Gateway;

/// <summary>
/// Closed-loop load: N workers each send GET requests back to back for a fixed time, recording
/// failures (non-2xx or exceptions), the slowest request, per-second completions and which backend
/// answered (X-Backend). Bounded: every request has a timeout and the run a fixed length.
/// </summary>
internal sealed class LoadRun
{
    public int Requests;
    public int Failures;
    public long SlowestTicks;
    public ConcurrentDictionary<string, int> ByBackend { get; } = new();
    public ConcurrentDictionary<int, int> PerSecond { get; } = new();
    public ConcurrentQueue<string> FailureSamples { get; } = new();

    public TimeSpan Slowest => TimeSpan.FromTicks(Interlocked.Read(ref SlowestTicks) * TimeSpan.TicksPerSecond / Stopwatch.Frequency);

    public static async Task<LoadRun> RunAsync(Uri gateway, int workers, TimeSpan length, string path = "/", Func<TimeSpan, Task>? during = null)
    {
        var run = new LoadRun();
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = workers, UseProxy = false };
        using var client = new HttpClient(handler) { BaseAddress = gateway, Timeout = TimeSpan.FromSeconds(10) };
        var clock = Stopwatch.StartNew();
        var tasks = Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
        {
            while (clock.Elapsed < length)
            {
                var t0 = Stopwatch.GetTimestamp();
                try
                {
                    using var response = await client.GetAsync(path);
                    var body = await response.Content.ReadAsStringAsync();
                    if (!response.IsSuccessStatusCode)
                    {
                        Interlocked.Increment(ref run.Failures);
                        run.FailureSamples.Enqueue($"{(int)response.StatusCode} at {clock.Elapsed.TotalSeconds:F2}s");
                    }
                    else if (response.Headers.TryGetValues("X-Backend", out var names))
                    {
                        run.ByBackend.AddOrUpdate(names.First(), 1, (_, n) => n + 1);
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                {
                    Interlocked.Increment(ref run.Failures);
                    run.FailureSamples.Enqueue($"{ex.GetType().Name} at {clock.Elapsed.TotalSeconds:F2}s");
                }

                var took = Stopwatch.GetTimestamp() - t0;
                long seen;
                while (took > (seen = Interlocked.Read(ref run.SlowestTicks)) && Interlocked.CompareExchange(ref run.SlowestTicks, took, seen) != seen)
                {
                }

                Interlocked.Increment(ref run.Requests);
                run.PerSecond.AddOrUpdate((int)clock.Elapsed.TotalSeconds, 1, (_, n) => n + 1);
            }
        })).ToList();

        if (during is not null)
        {
            tasks.Add(during(length));
        }

        await Task.WhenAll(tasks);
        return run;
    }

    public int Completed(int fromSecond, int toSecond) => Enumerable.Range(fromSecond, toSecond - fromSecond).Sum(s => PerSecond.GetValueOrDefault(s));

    public override string ToString() =>
        $"{Requests} requests, {Failures} failed, slowest {Slowest.TotalMilliseconds:F0} ms, per second [{string.Join(", ", PerSecond.OrderBy(kv => kv.Key).Select(kv => kv.Value))}], " +
        $"by backend {{{string.Join(", ", ByBackend.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}: {kv.Value}"))}}}" +
        (FailureSamples.IsEmpty ? "" : $", failures: {string.Join("; ", FailureSamples.Take(5))}");
}
