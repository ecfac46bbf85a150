using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Halo.Core.Serialization;

namespace Halo.IntegrationTests;

/// <summary>Invariant 2: a registry write that got a success answer survives kill -9 of the server and a restart.</summary>
public sealed class RegistryDurabilityTests(ITestOutputHelper output)
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Register1000_KillDashNineAndRestart_AllAcknowledgedStatePresent()
    {
        var data = HaloProcess.TempDirectory("durability");
        var port = HaloProcess.FreePort();
        var url = $"http://127.0.0.1:{port}";
        var acknowledged = new Dictionary<string, (int Port, int Weight, bool Draining)>();

        await using (var server = HaloProcess.Start("server", "--listen", $"127.0.0.1:{port}", "--data", data))
        {
            await server.WaitForLineAsync("listening on", StartTimeout);
            using var http = HaloProcess.Http(url);
            var clock = Stopwatch.StartNew();
            await Parallel.ForAsync(0, 1000, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
            {
                var body = new { address = "127.0.0.1", port = 10_000 + i, weight = 1 + (i % 7), ttl = "30s", metadata = new Dictionary<string, string> { ["n"] = $"{i}" } };
                using var response = await http.PutAsJsonAsync($"/v1/services/svc-{i % 10}/instances/i-{i}", body, HaloJson.Options, ct);
                response.EnsureSuccessStatusCode();
                var draining = i % 10 == 3;
                if (draining)
                {
                    using var drained = await http.PutAsJsonAsync($"/v1/services/svc-{i % 10}/instances/i-{i}/drain", new { draining = true }, ct);
                    drained.EnsureSuccessStatusCode();
                }

                lock (acknowledged)
                {
                    acknowledged[$"i-{i}"] = (10_000 + i, 1 + (i % 7), draining);
                }
            });
            output.WriteLine($"1000 registrations (+100 drains) acknowledged in {clock.Elapsed.TotalSeconds:0.00} s");

            server.KillHard();
        }

        await using var restarted = HaloProcess.Start("server", "--listen", $"127.0.0.1:{port}", "--data", data);
        await restarted.WaitForLineAsync("listening on", StartTimeout);
        using var client = HaloProcess.Http(url);
        var catalog = JsonDocument.Parse(await client.GetStringAsync("/v1/catalog")).RootElement;
        var instances = catalog.GetProperty("instances").EnumerateArray().ToDictionary(i => i.GetProperty("id").GetString()!);

        Assert.Equal(acknowledged.Count, instances.Count);
        foreach (var (id, expected) in acknowledged)
        {
            var i = instances[id];
            Assert.Equal(expected.Port, i.GetProperty("port").GetInt32());
            Assert.Equal(expected.Weight, i.GetProperty("weight").GetInt32());
            Assert.Equal(expected.Draining, i.GetProperty("draining").GetBoolean());
        }

        var events = JsonDocument.Parse(await client.GetStringAsync("/v1/events?type=draining&limit=10000")).RootElement;
        Assert.Equal(100, events.GetProperty("events").GetArrayLength());
        Directory.Delete(data, recursive: true);
    }
}
