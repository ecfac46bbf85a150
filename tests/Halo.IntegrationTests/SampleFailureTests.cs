using System.Diagnostics;
using System.Text.Json;
using Halo.Core.Detection;

namespace Halo.IntegrationTests;

/// <summary>Invariant 3: a real sample-service process killed with -9 is marked down within its detection bound.</summary>
public sealed class SampleFailureTests(ITestOutputHelper output)
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task SampleKilled_MarkedCriticalWithinBound_WatcherAndHistorySeeIt()
    {
        var data = HaloProcess.TempDirectory("sample-kill");
        var port = HaloProcess.FreePort();
        var url = $"http://127.0.0.1:{port}";
        await using var server = HaloProcess.Start("server", "--listen", $"127.0.0.1:{port}", "--data", data);
        await server.WaitForLineAsync("listening on", StartTimeout);
        var samples = new List<HaloProcess>();
        try
        {
            for (var i = 1; i <= 3; i++)
            {
                samples.Add(HaloProcess.Start("sample", "--service", "web", "--id", $"web-{i}", "--ttl", "1s", "--server", url));
            }

            foreach (var s in samples)
            {
                await s.WaitForLineAsync("listening on", StartTimeout);
            }

            using var http = HaloProcess.Http(url, TimeSpan.FromSeconds(70));
            await WaitUntilAsync(http, list => list.Count(i => i.Health == "passing") == 3, TimeSpan.FromSeconds(30));
            var from = JsonDocument.Parse(await http.GetStringAsync("/v1/catalog")).RootElement.GetProperty("revision").GetInt64();

            using var watchCts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            var watcher = WatchForCriticalAsync(url, from, "web-2", watchCts.Token);

            var bound = DetectionBound.Compute(new DetectorOptions()).Total;
            var clock = Stopwatch.StartNew();
            samples[1].KillHard();
            await WaitUntilAsync(http, list => list.Single(i => i.Id == "web-2").Health == "critical", bound + TimeSpan.FromSeconds(30));
            var detected = clock.Elapsed;
            output.WriteLine($"kill -9 -> critical in {detected.TotalSeconds:0.000} s (configured bound from the last heartbeat: {bound.TotalSeconds:0.000} s)");

            // The kill lands at most one heartbeat period after the last heartbeat, so from the kill the bound holds;
            // the slack covers process scheduling and the HTTP round trips of this observer on a loaded 2-core machine.
            Assert.True(detected <= bound + TimeSpan.FromSeconds(2), $"detected after {detected}, bound {bound}");
            Assert.True(await watcher.WaitAsync(TimeSpan.FromSeconds(30)), "the watcher should see web-2 go critical");

            var history = JsonDocument.Parse(await http.GetStringAsync("/v1/events?service=web&type=health")).RootElement.GetProperty("events");
            var down = history.EnumerateArray().Single(e => e.GetProperty("instance").GetString() == "web-2" && e.GetProperty("to").GetString() == "critical");
            Assert.Contains("missed", down.GetProperty("cause").GetString(), StringComparison.Ordinal);
            var others = JsonDocument.Parse(await http.GetStringAsync("/v1/services/web/instances?health=passing")).RootElement.GetProperty("instances");
            Assert.Equal(2, others.GetArrayLength());
        }
        finally
        {
            foreach (var s in samples)
            {
                await s.DisposeAsync();
            }
        }

        Directory.Delete(data, recursive: true);
    }

    private sealed record Instance(string Id, string Health);

    private static async Task WaitUntilAsync(HttpClient http, Func<List<Instance>, bool> condition, TimeSpan timeout)
    {
        // Follows the registry with blocking queries (index + wait), as a client should, instead of polling.
        using var cts = new CancellationTokenSource(timeout);
        long index = 0;
        while (true)
        {
            using var response = await http.GetAsync($"/v1/services/web/instances?index={index}&wait=5s", cts.Token);
            var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cts.Token)).RootElement;
            index = body.GetProperty("revision").GetInt64();
            var list = body.GetProperty("instances").EnumerateArray()
                .Select(i => new Instance(i.GetProperty("id").GetString()!, i.GetProperty("health").GetString()!)).ToList();
            if (condition(list))
            {
                return;
            }
        }
    }

    private static async Task<bool> WatchForCriticalAsync(string url, long from, string id, CancellationToken ct)
    {
        using var http = HaloProcess.Http(url, Timeout.InfiniteTimeSpan);
        using var response = await http.GetAsync($"/v1/watch?service=web&from={from}", HttpCompletionOption.ResponseHeadersRead, ct);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct));
        while (await reader.ReadLineAsync(ct) is { } line)
        {
            if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                var data = JsonDocument.Parse(line[6..]).RootElement;
                if (data.GetProperty("id").GetString() == id && data.TryGetProperty("health", out var h) && h.GetString() == "critical")
                {
                    return true;
                }
            }
        }

        return false;
    }
}
