using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using FailoverBench;
using Halo.Agent.Drills;
using Halo.Bench.Shared;
using Halo.Client;
using Halo.Core.Failover;

// Usage: FailoverBench halo|sentinel:<down-after-ms> <trials> <halo.dll> <workdir> <writes per second>
//        FailoverBench compare <results.jsonl>
// Starts three redis-server processes (through Halo's agents, or directly for Sentinel), a SET + WAIT 1 500 write load paced to
// the same target rate through each system's client path, kills the primary with kill -9 per trial, and measures the time from
// the kill to the first acknowledged write; at the end counts acknowledged writes that are missing. `compare` prints the runs of
// one results file side by side with their ratios to Halo's.
if (args[0] == "compare")
{
    Compare.Print(await File.ReadAllLinesAsync(args[1]));
    return;
}

var mode = args[0];
var trials = int.Parse(args[1], CultureInfo.InvariantCulture);
var haloDll = args[2];
var work = args[3];
var rate = int.Parse(args[4], CultureInfo.InvariantCulture);
var downAfterMs = mode.StartsWith("sentinel:", StringComparison.Ordinal) ? int.Parse(mode[9..], CultureInfo.InvariantCulture) : 0;
Directory.CreateDirectory(work);
await using var processes = new BenchProcesses();
var ports = Enumerable.Range(0, 3).Select(_ => BenchProcesses.FreePort()).ToArray();
Func<CancellationToken, Task<(string, int)>> resolve;
Func<Task<int>> primaryPort;
Func<Task<bool>> settled;
Action<int> restartIfNeeded = _ => { };

if (mode == "halo")
{
    var serverPort = BenchProcesses.FreePort();
    var proxyPort = BenchProcesses.FreePort();
    var server = $"http://127.0.0.1:{serverPort}/";
    // The server is closed by default: bootstrap it with an admin token of the bench's own, which every child and the bench present.
    var token = "halo_" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
    var tokenFile = Path.Combine(work, "admin.token");
    await File.WriteAllTextAsync(tokenFile, token + "\n");
    if (!OperatingSystem.IsWindows())
    {
        File.SetUnixFileMode(tokenFile, UnixFileMode.UserRead | UnixFileMode.UserWrite); // a secret: readable by its owner only
    }

    var options = new HaloClientOptions { Servers = [new Uri(server)], Token = token };
    processes.Start("dotnet", haloDll, "server", "--listen", $"127.0.0.1:{serverPort}", "--data", Path.Combine(work, "data"), "--bootstrap-token-file", tokenFile);
    using var client = new GroupClient(options);
    await BenchProcesses.WaitAsync(async () => (await client.ListAsync()) is not null, TimeSpan.FromSeconds(30), "halo server");
    await client.PutAsync("cache", new GroupPolicy { AntiFlapWindow = TimeSpan.Zero });
    for (var i = 0; i < 3; i++)
    {
        processes.Start("dotnet", haloDll, "agent", "--server", server, "--group", "cache", "--member", $"r{i + 1}",
            "--redis-server", "/usr/bin/redis-server", "--redis-port", ports[i].ToString(CultureInfo.InvariantCulture), "--redis-dir", Path.Combine(work, $"r{i + 1}"), "--token-file", tokenFile);
    }

    processes.Start("dotnet", haloDll, "tcp-proxy", "--server", server, "--group", "cache", "--listen", $"127.0.0.1:{proxyPort}", "--token-file", tokenFile);
    resolve = _ => Task.FromResult(("127.0.0.1", proxyPort));
    var statusClient = new GroupClient(options);
    primaryPort = async () => int.Parse((await statusClient.GetAsync("cache")).PrimaryAddress!.Split(':')[1], CultureInfo.InvariantCulture);
    settled = async () =>
    {
        var s = await statusClient.GetAsync("cache");
        return s.PrimaryConfirmed && s.Members.Count == 3 && s.Members.All(m => m.Fresh && m.Healthy && m.DbUp &&
            (m.Name == s.Primary || (m.Following == s.PrimaryAddress && m.Detail == "link up" && m.Lag < 64 * 1024)));
    };
}
else
{
    // The same three Redis processes, with Sentinel's three monitors.
    string[] RedisArgs(int port, int? master) =>
    [
        "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--dir", Directory.CreateDirectory(Path.Combine(work, $"redis-{port}")).FullName, "--repl-diskless-sync-delay", "0",
        .. master is { } m ? new[] { "--replicaof", $"127.0.0.1 {m}" } : [],
    ];
    var procs = new Dictionary<int, Process>();
    for (var i = 0; i < 3; i++)
    {
        procs[ports[i]] = processes.Start("/usr/bin/redis-server", RedisArgs(ports[i], i == 0 ? null : ports[0]));
    }

    var sentinelPorts = Enumerable.Range(0, 3).Select(_ => BenchProcesses.FreePort()).ToArray();
    foreach (var sp in sentinelPorts)
    {
        var conf = Path.Combine(work, $"sentinel-{sp}.conf");
        await File.WriteAllTextAsync(conf, $"""
            port {sp}
            bind 127.0.0.1
            dir {work}
            sentinel monitor mymaster 127.0.0.1 {ports[0]} 2
            sentinel down-after-milliseconds mymaster {downAfterMs}
            sentinel failover-timeout mymaster {SentinelClient.FailoverTimeoutMs}
            sentinel parallel-syncs mymaster 2
            """);
        processes.Start("/usr/bin/redis-server", conf, "--sentinel");
    }

    var sentinel = new SentinelClient(sentinelPorts, "mymaster");
    Task<(string, int)> Resolve(CancellationToken ct) => sentinel.ResolveAsync(ct);
    resolve = Resolve;
    primaryPort = async () => (await sentinel.MajorityAsync(default)).Item2;
    settled = async () =>
    {
        var master = (await sentinel.MajorityAsync(default)).Item2;
        var info = await Redis.CommandAsync(master, "INFO", "replication") as string ?? "";
        var replicas = await Redis.CommandAsync(sentinelPorts[0], "SENTINEL", "replicas", "mymaster") as object?[] ?? [];
        return info.Contains("role:master", StringComparison.Ordinal) && info.Contains("connected_slaves:2", StringComparison.Ordinal) &&
               !info.Contains("state=wait_bgsave", StringComparison.Ordinal) && !info.Contains("state=send_bulk", StringComparison.Ordinal) &&
               replicas.Length == 2 && replicas.All(r => r is object?[] fields && !string.Join(',', fields).Contains("s_down", StringComparison.Ordinal));
    };
    restartIfNeeded = port =>
    {
        // Restart the killed master as a plain redis-server, as an operator would; Sentinel turns it into a replica.
        procs[port] = processes.Start("/usr/bin/redis-server", RedisArgs(port, null));
    };
}

await BenchProcesses.WaitAsync(settled, TimeSpan.FromSeconds(60), "a settled group");
var load = new RedisWriteLoad(resolve, waitReplicas: 1, prefix: "bench:") { Interval = TimeSpan.FromSeconds(1.0 / rate) };
using var stop = new CancellationTokenSource();
var loadStarted = TimeProvider.System.GetTimestamp();
var running = load.RunAsync(stop.Token);
await Task.Delay(TimeSpan.FromSeconds(1), TimeProvider.System);
var results = new List<double>();
int? expectedPrimary = null;
var unplannedSwitches = 0;
for (var trial = 0; trial < trials; trial++)
{
    await BenchProcesses.WaitAsync(settled, TimeSpan.FromSeconds(90), $"trial {trial}: a settled group");
    await Task.Delay(TimeSpan.FromMilliseconds(500), TimeProvider.System);
    var port = await primaryPort();
    if (expectedPrimary is { } expected && expected != port)
    {
        // The primary moved between trials without a kill: a false suspicion (the setting is too tight for this machine).
        unplannedSwitches++;
        Console.Error.WriteLine($"{mode} trial {trial}: the primary moved from port {expected} to {port} without a kill");
    }

    var pid = await Redis.PidAsync(port);
    long killedAt;
    using (var victim = Process.GetProcessById(pid))
    {
        killedAt = TimeProvider.System.GetTimestamp();
        victim.Kill();
    }

    TimeSpan? first = null;
    var waiting = TimeProvider.System.GetTimestamp();
    while (first is null && TimeProvider.System.GetElapsedTime(waiting) < TimeSpan.FromSeconds(60))
    {
        await Task.Delay(TimeSpan.FromMilliseconds(5), TimeProvider.System);
        first = load.RecoveryAfter(killedAt);
    }

    results.Add(first?.TotalMilliseconds ?? double.NaN);
    Console.Error.WriteLine($"{mode} trial {trial}: killed pid {pid} on port {port}; first acknowledged write after {first?.TotalMilliseconds:0} ms");
    // Restart the killed node only once its role has moved (Halo's agent does the same by itself): a Redis without
    // persistence restarted as the master before the failover would be empty, and its replicas would copy that.
    await BenchProcesses.WaitAsync(async () => await primaryPort() != port, TimeSpan.FromSeconds(60), "the primary role to move");
    expectedPrimary = await primaryPort();
    restartIfNeeded(port);
}

await Task.Delay(TimeSpan.FromMilliseconds(500), TimeProvider.System);
await stop.CancelAsync();
await running;
var loadSeconds = TimeProvider.System.GetElapsedTime(loadStarted).TotalSeconds;
long lost = -1;
for (var attempt = 0; attempt < 5 && lost < 0; attempt++)
{
    try
    {
        lost = await load.CountLostAsync(default);
    }
    catch (Exception ex) when (ex is IOException or OperationCanceledException or System.Net.Sockets.SocketException)
    {
        await Task.Delay(TimeSpan.FromSeconds(1), TimeProvider.System);
    }
}

var sorted = results.Where(r => !double.IsNaN(r)).Order().ToList();
var summary = new RunSummary(
    mode == "halo" ? "Halo (tcp-proxy)" : $"Sentinel down-after {downAfterMs} ms", mode, trials, sorted.Count,
    sorted.Count == 0 ? double.NaN : sorted[sorted.Count / 2], sorted.Count == 0 ? double.NaN : sorted[^1],
    sorted.Count == 0 ? double.NaN : sorted[0], rate, Math.Round(load.Acked / loadSeconds, 1), load.Attempted, load.Acked, load.Failed, lost,
    unplannedSwitches, [.. results.Select(r => Math.Round(r, 1))]);
Console.WriteLine(JsonSerializer.Serialize(summary, Compare.Json));
