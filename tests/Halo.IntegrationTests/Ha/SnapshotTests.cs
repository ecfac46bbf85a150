using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Halo.IntegrationTests.Ha;

/// <summary>
/// Moving from one server to several: `halo snapshot save` from a server on the embedded store, `halo snapshot restore`
/// into a fresh etcd cluster, then servers over that etcd serve the same instances, drain flags, group policy and events.
/// Bad input leaves the target untouched. And back: from a server over etcd into the embedded store of a single server.
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
            (instances, group, events) = await SeedAsync(http);

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
            await AssertServesAsync(each, (instances, group, events));
        }

        Directory.Delete(directory, recursive: true);
    }

    [Fact]
    public async Task SaveFromEtcdServer_RestoreIntoEmbedded_EmbeddedServerServesTheSameState()
    {
        var directory = HaloProcess.TempDirectory("snapshot-back");
        var file = Path.Combine(directory, "state.json");
        (string Instances, string Group, string Events) state;
        await using (var etcd = await EtcdCluster.StartAsync(members: 1))
        await using (var servers = await ServerCluster.StartAsync(etcd, count: 1))
        {
            using var http = servers.Http();
            http.BaseAddress = servers.Url(0);
            state = await SeedAsync(http);

            var (saved, savedOutput) = await HaloProcess.RunAsync(Bound, "snapshot", "save", file, "--server", servers.Url(0).ToString());
            Assert.True(saved == 0, savedOutput);
        }

        // Back from several servers to one: the embedded store of a server that has not started yet.
        var data = Path.Combine(directory, "data");
        Directory.CreateDirectory(data);
        var (restored, restoredOutput) = await HaloProcess.RunAsync(Bound, "snapshot", "restore", file, "--data", data);
        Assert.True(restored == 0, restoredOutput);

        var port = HaloProcess.FreePort();
        await using (var server = HaloProcess.Start("server", "--listen", $"127.0.0.1:{port}", "--data", data))
        {
            await server.WaitForLineAsync("listening on", Bound);
            using var http = HaloProcess.Http($"http://127.0.0.1:{port}/");
            await AssertServesAsync(http, state);

            // The restored store is a working store, not a read-only copy: it takes the next write on top of what it holds.
            (await http.PutAsJsonAsync("v1/services/web/instances/web-4", new { address = "127.0.0.1", port = 8084 })).EnsureSuccessStatusCode();
            var events = await ReadAsync(http, "v1/events?type=registered", "events", "instance");
            Assert.Equal(["web-1", "web-2", "web-3", "web-4"], JsonNode.Parse(events)!.AsArray().Select(e => e!["instance"]!.GetValue<string>()));
        }

        Directory.Delete(directory, recursive: true);
    }

    /// <summary>
    /// Registers three instances, drains one, sets a group policy, through <paramref name="http"/>; returns what the server then
    /// serves of them (instances, the group's policy, the registered events), checked to be the real thing, not empty answers.
    /// </summary>
    private static async Task<(string Instances, string Group, string Events)> SeedAsync(HttpClient http)
    {
        foreach (var (id, p) in new[] { ("web-1", 8081), ("web-2", 8082), ("web-3", 8083) })
        {
            (await http.PutAsJsonAsync($"v1/services/web/instances/{id}", new { address = "127.0.0.1", port = p })).EnsureSuccessStatusCode();
        }

        (await http.PutAsJsonAsync("v1/services/web/instances/web-2/drain", new { draining = true })).EnsureSuccessStatusCode();
        (await http.PutAsJsonAsync("v1/groups/cache", new { maxLagBytes = 555 })).EnsureSuccessStatusCode();

        var instances = await ReadAsync(http, "v1/services/web/instances", "instances", "id", "address", "port", "draining");
        var group = await ReadAsync(http, "v1/groups/cache", "policy");
        var events = await ReadAsync(http, "v1/events?type=registered", "events", "type", "service", "instance", "time");

        Assert.Equal(3, JsonNode.Parse(instances)!.AsArray().Count);
        Assert.Contains("\"draining\":true", instances, StringComparison.Ordinal);
        Assert.Contains("\"maxLagBytes\":555", group, StringComparison.Ordinal);
        Assert.Equal(3, JsonNode.Parse(events)!.AsArray().Count);
        return (instances, group, events);
    }

    private static async Task AssertServesAsync(HttpClient http, (string Instances, string Group, string Events) expected)
    {
        Assert.Equal(expected.Instances, await ReadAsync(http, "v1/services/web/instances", "instances", "id", "address", "port", "draining"));
        Assert.Equal(expected.Group, await ReadAsync(http, "v1/groups/cache", "policy"));
        Assert.Equal(expected.Events, await ReadAsync(http, "v1/events?type=registered", "events", "type", "service", "instance", "time"));
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
