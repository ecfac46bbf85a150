using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Halo.Agent.Drivers;

namespace Halo.IntegrationTests.Ha;

/// <summary>
/// `halo up --ha` with its Redis group: three servers over a three-member etcd, a primary/replica group whose agents and TCP
/// proxy take all three servers. kill -9 of one server (not `halo up` itself; the group's decider when a peer decides it):
/// writes through the proxy go on succeeding, the survivors take the group over and it keeps its primary in the same epoch;
/// Ctrl+C then stops everything `halo up` started.
/// </summary>
public sealed partial class UpHaRedisTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task UpHa_WithRedis_ServerKilled_WritesThroughProxyGoOnAndPrimaryStays_InterruptStopsEverything()
    {
        Assert.True(File.Exists("/usr/bin/redis-server"), "redis-server is needed for halo up's Redis group");
        var data = HaloProcess.TempDirectory("up-ha-redis");
        var port = HaloProcess.FreePort();
        await using var up = HaloProcess.Start("up", "--ha", "--listen", $"127.0.0.1:{port}", "--gateway-listen", "127.0.0.1:0",
            "--redis-port", "0", "--samples", "1", "--data", data);
        await up.WaitForLineAsync("Kill a server:", Bound);
        output.WriteLine(string.Join('\n', up.Output));

        var redisLine = up.Output.First(l => l.Contains("redis group", StringComparison.Ordinal));
        var proxy = ProxyPattern().Match(redisLine);
        Assert.True(proxy.Success, $"the Redis group should have started: {redisLine}");
        var proxyPort = int.Parse(proxy.Groups[1].Value, CultureInfo.InvariantCulture);
        var peers = up.Output.Select(l => PeerPattern().Match(l)).Where(m => m.Success)
            .Select(m => (Url: m.Groups[1].Value.TrimEnd('/'), Pid: int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture))).ToList();
        Assert.Equal(2, peers.Count);

        // Ready: the group has a confirmed primary and a write through the proxy lands on it.
        var clock = Stopwatch.StartNew();
        var before = await WaitForPrimaryAsync($"http://127.0.0.1:{port}", clock);
        var written = 0;
        while (await TryWriteAsync(proxyPort, "before", written) is { } problem)
        {
            Assert.True(clock.Elapsed < Bound, $"a write through the proxy (127.0.0.1:{proxyPort}) should succeed: {problem}");
            await Task.Delay(200);
        }

        // The victim: the peer that decides the cache group when a peer does (the harder case: the group's decider moves),
        // else server 2 (server 1 is `halo up` itself, whose death ends the demo).
        using var http = HaloProcess.Http($"http://127.0.0.1:{port}");
        var decider = DeciderOf(JsonDocument.Parse(await http.GetStringAsync("/v1/cluster")).RootElement);
        var victim = peers.FirstOrDefault(p => p.Url == decider, peers[0]);
        var survivor = peers.Single(p => p != victim);
        var survivors = $"http://127.0.0.1:{port},{survivor.Url}";
        output.WriteLine($"ready in {clock.ElapsedMilliseconds} ms after the banner: primary {before.Primary} (epoch {before.Epoch}), decided by {decider}; killing server {victim.Url} (pid {victim.Pid})");
        Assert.NotEqual(up.Pid, victim.Pid);
        using (var server = Process.GetProcessById(victim.Pid))
        {
            server.Kill(); // SIGKILL to that pid only
            Assert.True(server.WaitForExit(10_000), $"server pid {victim.Pid} should die");
        }

        // Past the membership TTL (5 s) and its backstop: the dead server's services and groups have moved by then.
        var failures = new List<string>();
        var after = Stopwatch.StartNew();
        var writes = 0;
        while (after.Elapsed < TimeSpan.FromSeconds(12))
        {
            if (await TryWriteAsync(proxyPort, "after", writes) is { } problem)
            {
                failures.Add($"{after.ElapsedMilliseconds} ms: {problem}");
            }

            writes++;
            await Task.Delay(250);
        }

        Assert.True(writes >= 10, $"only {writes} writes tried");
        Assert.True(failures.Count == 0, $"{failures.Count} of {writes} writes through the proxy failed after server {victim.Pid} died:\n{string.Join('\n', failures)}");
        await using (var c = await RespConnection.ConnectAsync("127.0.0.1", proxyPort, TimeSpan.FromSeconds(2)))
        {
            Assert.Equal("after-" + (writes - 1), await c.ExecuteAsync(TimeSpan.FromSeconds(2), default, "GET", "halo-up-ha-after") as string);
            Assert.Equal("before-0", await c.ExecuteAsync(TimeSpan.FromSeconds(2), default, "GET", "halo-up-ha-before") as string);
        }

        // The survivors' membership has dropped the dead server and one of them decides the group.
        using var survivorHttp = HaloProcess.Http(survivor.Url);
        clock.Restart();
        while (true)
        {
            var cluster = JsonDocument.Parse(await survivorHttp.GetStringAsync("/v1/cluster")).RootElement;
            var members = cluster.GetProperty("members").GetArrayLength();
            if (members == 2 && DeciderOf(cluster) is { } now && now != victim.Url)
            {
                output.WriteLine($"cache group decided by {now} after the kill");
                break;
            }

            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"two members, one of them deciding the cache group, expected: {cluster}");
            await Task.Delay(200);
        }

        // The survivors agree on the same primary, in the same epoch: a server's death is no reason to fail the group over.
        var (exit, json) = await HaloProcess.RunAsync(TimeSpan.FromSeconds(30), "groups", "--json", "--server", survivors);
        Assert.True(exit == 0, json);
        var cache = JsonDocument.Parse(json).RootElement.GetProperty("groups").EnumerateArray().Single(g => g.GetProperty("name").GetString() == "cache");
        Assert.Equal(before.Primary, cache.GetProperty("primary").GetString());
        Assert.Equal(before.Epoch, cache.GetProperty("epoch").GetInt64());
        output.WriteLine($"after the kill: {writes} writes, all acknowledged; primary {before.Primary}, epoch {before.Epoch}");

        using (var interrupt = Process.Start("kill", ["-INT", up.Pid.ToString(CultureInfo.InvariantCulture)]))
        {
            await interrupt.WaitForExitAsync();
        }

        await up.WaitForLineAsync("stopping", Bound);
        clock.Restart();
        while (!up.HasExited || UpTests.ProcessesMentioning(data).Count > 0)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30),
                $"halo up --ha should stop etcd, its servers, agents, redis-servers and children and exit; left: {string.Join(", ", UpTests.ProcessesMentioning(data))}\n{string.Join('\n', up.Output.TakeLast(20))}");
            await Task.Delay(200);
        }

        Directory.Delete(data, recursive: true);
    }

    /// <summary>The url (without its trailing slash) of the member that decides the cache group, per a /v1/cluster answer.</summary>
    private static string? DeciderOf(JsonElement cluster) =>
        cluster.GetProperty("members").EnumerateArray()
            .Where(m => m.GetProperty("groups").EnumerateArray().Any(g => g.GetString() == "cache"))
            .Select(m => m.GetProperty("url").GetString()!.TrimEnd('/')).FirstOrDefault();

    /// <summary>Waits (bounded) until the servers given report the cache group with a confirmed primary.</summary>
    private static async Task<(string Primary, long Epoch)> WaitForPrimaryAsync(string servers, Stopwatch clock)
    {
        var last = "";
        while (true)
        {
            var (exit, json) = await HaloProcess.RunAsync(TimeSpan.FromSeconds(30), "groups", "--json", "--server", servers);
            last = json;
            if (exit == 0)
            {
                var cache = JsonDocument.Parse(json).RootElement.GetProperty("groups").EnumerateArray()
                    .FirstOrDefault(g => g.GetProperty("name").GetString() == "cache");
                // Before the first election the group has no primary yet, and the JSON leaves the field out.
                if (cache.ValueKind == JsonValueKind.Object && cache.TryGetProperty("primary", out var p) && p.GetString() is { } primary
                    && cache.TryGetProperty("primaryConfirmed", out var confirmed) && confirmed.GetBoolean())
                {
                    return (primary, cache.GetProperty("epoch").GetInt64());
                }
            }

            Assert.True(clock.Elapsed < Bound, $"the cache group should have a confirmed primary: {last}");
            await Task.Delay(500);
        }
    }

    /// <summary>SET through the proxy on a fresh connection (each one is routed anew); null when acknowledged, else why not.</summary>
    private static async Task<string?> TryWriteAsync(int proxyPort, string key, int n)
    {
        try
        {
            await using var c = await RespConnection.ConnectAsync("127.0.0.1", proxyPort, TimeSpan.FromSeconds(2));
            var reply = await c.ExecuteAsync(TimeSpan.FromSeconds(2), default, "SET", "halo-up-ha-" + key, $"{key}-{n}");
            return reply as string == "OK" ? null : $"SET answered {reply ?? "nil"}";
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or OperationCanceledException or InvalidOperationException)
        {
            return $"{ex.GetType().Name}: {ex.Message}";
        }
    }

    [GeneratedRegex(@"redis-cli -p (\d+) always reaches the primary")]
    private static partial Regex ProxyPattern();

    [GeneratedRegex(@"server \d\s+(http://\S+)\s+\(server pid (\d+)\)")]
    private static partial Regex PeerPattern();
}
