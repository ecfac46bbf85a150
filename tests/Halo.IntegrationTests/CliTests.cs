using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Halo.IntegrationTests;

/// <summary>The operator verbs as a user runs them: a real `halo` process against a real server.</summary>
public sealed partial class CliTests : IAsyncLifetime
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);
    private readonly string _data = HaloProcess.TempDirectory("cli");
    private HaloProcess? _server;
    private string _url = "";

    public async ValueTask InitializeAsync()
    {
        var port = HaloProcess.FreePort();
        _url = $"http://127.0.0.1:{port}";
        _server = HaloProcess.Start("server", "--listen", $"127.0.0.1:{port}", "--data", _data);
        await _server.WaitForLineAsync("listening on", Bound);
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        Directory.Delete(_data, recursive: true);
    }

    private Task<(int ExitCode, string Output)> Halo(params string[] args) => HaloProcess.RunAsync(Bound, [.. args, "--server", _url]);

    [Fact]
    public async Task Verbs_RegisterListDrainDeregister_WorkEndToEnd()
    {
        var (code, output) = await Halo("register", "web", "web-1", "--port", "8081", "--tag", "v2", "--meta", "team=core", "--ttl", "30s");
        Assert.True(code == 0, output);
        Assert.Contains("registered web/web-1", output, StringComparison.Ordinal);

        (code, output) = await Halo("services", "--json");
        Assert.Equal(0, code);
        var services = JsonDocument.Parse(output).RootElement.GetProperty("services");
        Assert.Equal(1, services.GetArrayLength());
        Assert.Equal(1, services[0].GetProperty("passing").GetInt32());

        (code, output) = await Halo("instances", "web");
        Assert.Equal(0, code);
        Assert.Contains("web-1", output, StringComparison.Ordinal);
        Assert.Contains("127.0.0.1:8081", output, StringComparison.Ordinal);

        (code, output) = await Halo("drain", "web", "web-1", "--json");
        Assert.Equal(0, code);
        Assert.True(JsonDocument.Parse(output).RootElement.GetProperty("draining").GetBoolean());

        (code, output) = await Halo("events", "--json");
        Assert.Equal(0, code);
        var types = JsonDocument.Parse(output).RootElement.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("type").GetString());
        Assert.Equal(["registered", "draining"], types);

        (code, output) = await Halo("status");
        Assert.Equal(0, code);
        Assert.Contains("1 services, 1 instances, 1 passing", output, StringComparison.Ordinal);

        (code, _) = await Halo("deregister", "web", "web-1");
        Assert.Equal(0, code);
        (code, output) = await Halo("instances", "web");
        Assert.Equal(1, code);
        Assert.Contains("unknown service web", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Instances_Piped_TableRowsNotWrappedAt80Columns()
    {
        const string id = "web-with-a-rather-long-instance-identifier-0123456789";
        const string address = "a-very-long-host-name.example.internal";
        var (code, output) = await Halo("register", "web", id, "--address", address, "--port", "8080", "--zone", "zone-with-a-long-name-too", "--ttl", "30s");
        Assert.True(code == 0, output);

        // stdout is a pipe here, as in `halo instances web | cat`.
        (code, output) = await Halo("instances", "web");

        Assert.Equal(0, code);
        Assert.Contains(output.Split('\n'), line => line.Contains(id, StringComparison.Ordinal) && line.Contains($"{address}:8080", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Groups_Piped_TableRowsNotWrappedAt80Columns()
    {
        // 63 characters, the longest name allowed: with the other columns the row is over 80, so a wrapping table splits it.
        const string name = "cache-group-with-a-rather-long-name-for-a-table-0123456789-abcd";
        var policy = Path.Combine(_data, "policy.json");
        await File.WriteAllTextAsync(policy, "{}", TestContext.Current.CancellationToken);
        var (code, output) = await Halo("group", name, "--policy", policy);
        Assert.True(code == 0, output);

        // stdout is a pipe here, as in `halo groups | cat`.
        (code, output) = await Halo("groups");

        Assert.Equal(0, code);
        Assert.Contains(output.Split('\n'), line => line.Contains(name, StringComparison.Ordinal) && line.TrimEnd().Length > 80);
    }

    [Fact]
    public async Task Services_SeveralServers_FirstDown_AnsweredByNext()
    {
        var dead = $"http://127.0.0.1:{HaloProcess.FreePort()}";
        var (code, output) = await HaloProcess.RunAsync(Bound, "services", "--json", "--server", $"{dead},{_url}");

        Assert.True(code == 0, output);
        Assert.Equal(0, JsonDocument.Parse(output).RootElement.GetProperty("services").GetArrayLength());
    }

    [Fact]
    public async Task Register_OutOfRangePort_NonZeroExitWithOneLineNamingField()
    {
        var (code, output) = await Halo("register", "web", "web-1", "--port", "70000");

        Assert.Equal(1, code);
        var line = Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("port", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Services_UnreachableServer_NonZeroExitWithReason()
    {
        var (code, output) = await HaloProcess.RunAsync(Bound, "services", "--server", $"http://127.0.0.1:{HaloProcess.FreePort()}");

        Assert.Equal(1, code);
        Assert.Contains("cannot reach the server", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Services_MalformedServerUrl_ExitTwoNamingOption()
    {
        var (code, output) = await HaloProcess.RunAsync(Bound, "services", "--server", "ftp:/nowhere");

        Assert.Equal(2, code);
        Assert.Contains("--server", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Watch_RegistrationWhileWatching_PrintedLive()
    {
        using var http = HaloProcess.Http();
        var revision = JsonDocument.Parse(await http.GetStringAsync($"{_url}/v1/catalog")).RootElement.GetProperty("revision").GetInt64();
        // Watching from a known revision means the registration below is seen however late the watcher subscribes.
        await using var watch = HaloProcess.Start("watch", "web", "--from", revision.ToString(System.Globalization.CultureInfo.InvariantCulture), "--server", _url);
        var (code, _) = await Halo("register", "web", "web-9", "--port", "9000", "--ttl", "30s");
        Assert.Equal(0, code);

        var line = await watch.WaitForLineAsync("web/web-9", Bound);
        Assert.Contains("passing", line, StringComparison.Ordinal);
    }
}

/// <summary>`halo up`, the first thing a newcomer runs: everything starts, a killed sample goes critical, Ctrl+C stops it all.</summary>
public sealed partial class UpTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Up_StartsServerAndSamples_InterruptStopsEverythingItStarted()
    {
        var data = HaloProcess.TempDirectory("up");
        var port = HaloProcess.FreePort();
        await using var up = HaloProcess.Start("up", "--listen", $"127.0.0.1:{port}", "--gateway-listen", "127.0.0.1:0", "--redis-port", "0", "--data", data);
        await up.WaitForLineAsync("Ctrl+C stops everything", Bound);
        var pids = up.Output.Select(l => PidPattern().Match(l)).Where(m => m.Success).Select(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(3, pids.Count);

        using var http = HaloProcess.Http($"http://127.0.0.1:{port}");
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var list = JsonDocument.Parse(await http.GetStringAsync("/v1/services")).RootElement.GetProperty("services");
            if (list.GetArrayLength() == 1 && list[0].GetProperty("passing").GetInt32() == 3)
            {
                break;
            }

            Assert.True(clock.Elapsed < Bound, "three passing samples expected");
            await Task.Delay(200);
        }

        // The Redis group halo up starts (redis-server is installed by the test script) elects a primary.
        var redisLine = await up.WaitForLineAsync("redis group", Bound);
        Assert.Contains("always reaches the primary", redisLine, StringComparison.Ordinal);
        clock.Restart();
        while (true)
        {
            var group = JsonDocument.Parse(await http.GetStringAsync("/v1/groups/cache")).RootElement;
            if (group.TryGetProperty("primary", out var primary) && primary.ValueKind == JsonValueKind.String)
            {
                break;
            }

            Assert.True(clock.Elapsed < Bound, "the cache group should elect a primary");
            await Task.Delay(200);
        }

        using (var sample = Process.GetProcessById(pids[0]))
        {
            sample.Kill();
        }

        await up.WaitForLineAsync("-> critical", Bound);
        output.WriteLine(string.Join('\n', up.Output));

        // The gateway `halo up` starts answers through the loss of a sample.
        var gatewayLine = await up.WaitForLineAsync("gateway ", Bound);
        var gateway = gatewayLine.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
        for (var i = 0; i < 20; i++)
        {
            using var response = await http.GetAsync(new Uri(gateway));
            Assert.True(response.IsSuccessStatusCode, $"request {i} through the gateway: {(int)response.StatusCode}");
            Assert.DoesNotContain("web-1", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (var interrupt = Process.Start("kill", ["-INT", up.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await interrupt.WaitForExitAsync();
        }

        await up.WaitForLineAsync("stopping", Bound);
        clock.Restart();
        while (pids.Skip(1).Any(Alive) || !up.HasExited || ProcessesMentioning(data).Count > 0)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30),
                $"halo up should stop its samples, agents and redis-servers and exit; left: {string.Join(", ", ProcessesMentioning(data))}\n{string.Join('\n', up.Output.SkipWhile(l => !l.StartsWith("stopping", StringComparison.Ordinal)))}");
            await Task.Delay(200);
        }

        Directory.Delete(data, recursive: true);
    }

    /// <summary>Live processes whose command line names <paramref name="text"/> (redis-servers run with --dir under the data folder).</summary>
    internal static List<string> ProcessesMentioning(string text) =>
        Directory.GetDirectories("/proc").Select(Path.GetFileName).Where(n => int.TryParse(n, out _)).Select(pid =>
        {
            try
            {
                var cmd = File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
                var state = File.ReadAllText($"/proc/{pid}/stat");
                return cmd.Contains(text, StringComparison.Ordinal) && !state.Contains(") Z ", StringComparison.Ordinal) ? $"{pid}: {cmd}" : null;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return null;
            }
        }).OfType<string>().ToList();

    private static bool Alive(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    [GeneratedRegex(@"\(pid (\d+)\)")]
    private static partial Regex PidPattern();
}

/// <summary>`halo server --config`: the file's detector settings apply; a bad file fails at start naming line and field.</summary>
public sealed class ServerConfigTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Server_ConfigWithBadDetector_ExitTwoNamingLineAndField()
    {
        var dir = HaloProcess.TempDirectory("config-bad");
        var file = Path.Combine(dir, "halo.yaml");
        await File.WriteAllTextAsync(file, "server:\n  detector:\n    missedHeartbeats: 0\n");

        var (code, output) = await HaloProcess.RunAsync(Bound, "server", "--config", file, "--listen", $"127.0.0.1:{HaloProcess.FreePort()}", "--data", dir);

        Assert.Equal(2, code);
        Assert.Contains("line 3", output, StringComparison.Ordinal);
        Assert.Contains("missedHeartbeats", output, StringComparison.Ordinal);
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public async Task Server_ConfigWithServiceDetector_AppliedToRegistrations()
    {
        var dir = HaloProcess.TempDirectory("config-good");
        var file = Path.Combine(dir, "halo.yaml");
        var port = HaloProcess.FreePort();
        await File.WriteAllTextAsync(file, $"server:\n  listen: 127.0.0.1:{port}\n  data: {dir}/data\nservices:\n  web:\n    detector:\n      kind: phiAccrual\n      phiThreshold: 10\n");
        await using var server = HaloProcess.Start("server", "--config", file);
        await server.WaitForLineAsync("listening on", Bound);

        var (code, _) = await HaloProcess.RunAsync(Bound, "register", "web", "web-1", "--port", "8080", "--server", $"http://127.0.0.1:{port}");
        Assert.Equal(0, code);
        using var http = HaloProcess.Http();
        var instance = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync($"http://127.0.0.1:{port}/v1/services/web/instances")).RootElement.GetProperty("instances")[0];

        Assert.Equal("phiAccrual", instance.GetProperty("detector").GetProperty("kind").GetString());
        Assert.Equal(10, instance.GetProperty("detector").GetProperty("phiThreshold").GetDouble());
        Directory.Delete(dir, recursive: true);
    }
}

/// <summary>Bad flags of the verbs this change added exit 2 with a line naming the flag, before anything starts.</summary>
public sealed class CliFlagTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData("--advertise", "sample", "--advertise", "not a host!")]
    [InlineData("--ttl", "sample", "--ttl", "soon")]
    [InlineData("--samples", "up", "--samples", "50", "--listen", "127.0.0.1:0")]
    [InlineData("--redis-port", "up", "--redis-port", "70000", "--listen", "127.0.0.1:0")]
    [InlineData("--listen", "server", "--listen", "nowhere")]
    public async Task Verb_BadFlag_ExitTwoNamingFlag(string flag, params string[] args)
    {
        var (code, output) = await HaloProcess.RunAsync(Bound, args);

        Assert.Equal(2, code);
        Assert.Contains(flag, output, StringComparison.Ordinal);
    }
}
