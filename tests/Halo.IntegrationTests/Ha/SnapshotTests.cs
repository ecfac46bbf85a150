using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Halo.IntegrationTests.Ha;

/// <summary>
/// Moving from one server to several: `halo snapshot save` from a server on the embedded store, `halo snapshot restore`
/// into a fresh etcd cluster, then servers over that etcd serve the same instances, drain flags, group policy and events.
/// Bad input leaves the target untouched.
/// </summary>
public sealed class SnapshotTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task SaveFromEmbeddedServer_RestoreIntoEtcd_ServersOverEtcdServeTheSameState()
    {
        var directory = HaloProcess.TempDirectory("snapshot");
        var file = Path.Combine(directory, "state.json");
        var port = HaloProcess.FreePort();
        var source = new Uri($"http://127.0.0.1:{port}/");
        string instances, group, events;
        await using (var server = HaloProcess.Start("server", "--listen", $"127.0.0.1:{port}", "--data", Path.Combine(directory, "data")))
        {
            await server.WaitForLineAsync("listening on", Bound);
            using var http = HaloProcess.Http(source.ToString());
            foreach (var (id, p) in new[] { ("web-1", 8081), ("web-2", 8082), ("web-3", 8083) })
            {
                (await http.PutAsJsonAsync($"v1/services/web/instances/{id}", new { address = "127.0.0.1", port = p })).EnsureSuccessStatusCode();
            }

            (await http.PutAsJsonAsync("v1/services/web/instances/web-2/drain", new { draining = true })).EnsureSuccessStatusCode();
            (await http.PutAsJsonAsync("v1/groups/cache", new { maxLagBytes = 555 })).EnsureSuccessStatusCode();

            instances = await ReadAsync(http, "v1/services/web/instances", "instances", "id", "address", "port", "draining");
            group = await ReadAsync(http, "v1/groups/cache", "policy");
            events = await ReadAsync(http, "v1/events?type=registered", "events", "type", "service", "instance", "time");

            // What is compared below is the real thing, not two empty answers.
            Assert.Equal(3, JsonNode.Parse(instances)!.AsArray().Count);
            Assert.Contains("\"draining\":true", instances, StringComparison.Ordinal);
            Assert.Contains("\"maxLagBytes\":555", group, StringComparison.Ordinal);
            Assert.Equal(3, JsonNode.Parse(events)!.AsArray().Count);

            var (saved, savedOutput) = await HaloProcess.RunAsync(Bound, "snapshot", "save", file, "--server", source.ToString());
            Assert.True(saved == 0, savedOutput);
        }

        await using var etcd = await EtcdCluster.StartAsync();

        // Bad input: a clear one-line reason, exit 2, and nothing written into the target.
        var corrupt = Path.Combine(directory, "corrupt.json");
        await File.WriteAllTextAsync(corrupt, (await File.ReadAllTextAsync(file))[..100]);
        foreach (var (bad, expected) in new[] { (Path.Combine(directory, "missing.json"), "no such file"), (corrupt, "is not a Halo snapshot") })
        {
            var (code, output) = await HaloProcess.RunAsync(Bound, "snapshot", "restore", bad, "--etcd", etcd.Endpoints);
            Assert.Equal(2, code);
            Assert.Contains(expected, Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries)), StringComparison.Ordinal);
        }

        var (restored, restoredOutput) = await HaloProcess.RunAsync(Bound, "snapshot", "restore", file, "--etcd", etcd.Endpoints);
        Assert.True(restored == 0, restoredOutput);
        var (again, againOutput) = await HaloProcess.RunAsync(Bound, "snapshot", "restore", file, "--etcd", etcd.Endpoints);
        Assert.Equal(2, again);
        Assert.Contains("not empty", againOutput, StringComparison.Ordinal);
        Assert.Contains("--force", againOutput, StringComparison.Ordinal);

        await using var servers = await ServerCluster.StartAsync(etcd, count: 2);
        for (var i = 0; i < servers.Count; i++)
        {
            using var each = servers.Http();
            each.BaseAddress = servers.Url(i);
            Assert.Equal(instances, await ReadAsync(each, "v1/services/web/instances", "instances", "id", "address", "port", "draining"));
            Assert.Equal(group, await ReadAsync(each, "v1/groups/cache", "policy"));
            Assert.Equal(events, await ReadAsync(each, "v1/events?type=registered", "events", "type", "service", "instance", "time"));
        }

        Directory.Delete(directory, recursive: true);
    }

    /// <summary>The named property of a JSON answer, reduced to <paramref name="fields"/> of each element when it is an array (revisions differ by store).</summary>
    private static async Task<string> ReadAsync(HttpClient http, string path, string property, params string[] fields)
    {
        using var response = await http.GetAsync(new Uri(path, UriKind.Relative));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {text}");
        var node = JsonNode.Parse(text)![property]!;
        if (node is JsonArray array && fields.Length > 0)
        {
            node = new JsonArray([.. array.Select(e => (JsonNode)new JsonObject(fields.Select(f => KeyValuePair.Create(f, e![f]?.DeepClone()))))]);
        }

        return node.ToJsonString(new JsonSerializerOptions { WriteIndented = false });
    }
}
