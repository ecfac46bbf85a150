using System.Diagnostics;
using System.Text.Json;

namespace Halo.IntegrationTests.Ha;

/// <summary>`halo up --ha` on free ports: three servers over a three-member etcd, all members; Ctrl+C stops everything it started.</summary>
public sealed class UpHaTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task UpHa_ThreeServersOverEtcd_InterruptStopsEtcdServersAndChildren()
    {
        var data = HaloProcess.TempDirectory("up-ha");
        var port = HaloProcess.FreePort();
        await using var up = HaloProcess.Start("up", "--ha", "--listen", $"127.0.0.1:{port}", "--gateway-listen", "127.0.0.1:0", "--no-redis", "--samples", "1", "--data", data);
        await up.WaitForLineAsync("Kill a server:", Bound);
        output.WriteLine(string.Join('\n', up.Output));

        using var http = HaloProcess.Http($"http://127.0.0.1:{port}");
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var cluster = JsonDocument.Parse(await http.GetStringAsync("/v1/cluster")).RootElement;
            var members = cluster.GetProperty("members").EnumerateArray().Select(m => m.GetProperty("url").GetString()).Distinct().Count();
            // 404 until the sample's first registration lands (later on a busy machine): no instances yet.
            using var instances = await http.GetAsync("/v1/services/web/instances");
            var sample = instances.StatusCode == System.Net.HttpStatusCode.NotFound ? 0
                : JsonDocument.Parse(await instances.EnsureSuccessStatusCode().Content.ReadAsStringAsync()).RootElement.GetProperty("instances").GetArrayLength();
            if (cluster.GetProperty("clustered").GetBoolean() && members == 3 && sample == 1)
            {
                break;
            }

            Assert.True(clock.Elapsed < Bound, $"three members and the sample expected; /v1/cluster: {cluster}");
            await Task.Delay(200);
        }

        // Processes whose command line names the data directory: etcd members (--data-dir), servers, sample, gateway.
        Assert.True(UpTests.ProcessesMentioning(data).Count >= 6, string.Join('\n', UpTests.ProcessesMentioning(data)));

        using (var interrupt = Process.Start("kill", ["-INT", up.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await interrupt.WaitForExitAsync();
        }

        await up.WaitForLineAsync("stopping", Bound);
        clock.Restart();
        while (!up.HasExited || UpTests.ProcessesMentioning(data).Count > 0)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30),
                $"halo up --ha should stop etcd, its servers and children and exit; left: {string.Join(", ", UpTests.ProcessesMentioning(data))}\n{string.Join('\n', up.Output.TakeLast(20))}");
            await Task.Delay(200);
        }

        Directory.Delete(data, recursive: true);
    }

    [Fact]
    public async Task UpHa_KilledOutright_EtcdMembersServersAndChildrenDieWithIt()
    {
        var data = HaloProcess.TempDirectory("up-ha-kill");
        await using var up = HaloProcess.Start("up", "--ha", "--listen", $"127.0.0.1:{HaloProcess.FreePort()}", "--gateway-listen", "127.0.0.1:0", "--no-redis", "--samples", "1", "--data", data);
        await up.WaitForLineAsync("Kill a server:", Bound);
        var etcd = UpTests.ProcessesMentioning(Path.Combine(data, "etcd"));
        Assert.True(etcd.Count >= 3, $"three etcd members expected: {string.Join("; ", etcd)}");

        // kill -9: no Ctrl+C handler runs. etcd goes at once (parent-death signal); halo children within ParentWatch's
        // 1 s poll plus their own shutdown.
        up.KillHard();
        var clock = Stopwatch.StartNew();
        while (UpTests.ProcessesMentioning(data).Count > 0)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"left after kill -9 of halo up --ha: {string.Join('\n', UpTests.ProcessesMentioning(data))}");
            await Task.Delay(200);
        }

        output.WriteLine($"everything gone {clock.ElapsedMilliseconds} ms after the kill");
        Directory.Delete(data, recursive: true);
    }
}
