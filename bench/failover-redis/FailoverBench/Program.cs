using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using FailoverBench;
using Halo.Agent.Drills;
using Halo.Bench.Shared;
using Halo.Client;
using Halo.Core.Failover;

// Usage: FailoverBench halo|sentinel <trials> <halo.dll> <workdir>
// Starts three redis-server processes (through Halo's agents, or directly for Sentinel), a steady SET+WAIT 1 write load
// through each system's client path, kills the primary with kill -9 per trial, and measures the time from the kill to the
// first acknowledged write; at the end counts acknowledged writes that are missing.
var mode = args[0];
var trials = int.Parse(args[1], CultureInfo.InvariantCulture);
var haloDll = args[2];
var work = args[3];
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
    processes.Start("dotnet", haloDll, "server", "--listen", $"127.0.0.1:{serverPort}", "--data", Path.Combine(work, "data"));
    using var client = new GroupClient(new Uri(server));
    await BenchProcesses.WaitAsync(async () => (await client.ListAsync()) is not null, TimeSpan.FromSeconds(30), "halo server");
    await client.PutAsync("cache", new GroupPolicy { AntiFlapWindow = TimeSpan.Zero });
    for (var i = 0; i < 3; i++)
    {
        processes.Start("dotnet", haloDll, "agent", "--server", server, "--group", "cache", "--member", $"r{i + 1}",
            "--redis-server", "/usr/bin/redis-server", "--redis-port", ports[i].ToString(CultureInfo.InvariantCulture), "--redis-dir", Path.Combine(work, $"r{i + 1}"));
    }

    processes.Start("dotnet", haloDll, "tcp-proxy", "--server", server, "--group", "cache", "--listen", $"127.0.0.1:{proxyPort}");
    resolve = _ => Task.FromResult(("127.0.0.1", proxyPort));
    var statusClient = new GroupClient(new Uri(server));
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
    // The same three Redis processes, with Sentinel's three monitors (down-after-milliseconds 1000).
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
            sentinel down-after-milliseconds mymaster 1000
            sentinel failover-timeout mymaster 10000
            sentinel parallel-syncs mymaster 2
            """);
        processes.Start("/usr/bin/redis-server", conf, "--sentinel");
    }

    // A Sentinel-aware client: on every (re)connect, ask all sentinels for the master and take the majority answer.
    async Task<(string, int)> Resolve(CancellationToken ct)
    {
        var answers = new List<(string, int)>();
        foreach (var sp in sentinelPorts)
        {
            try
            {
                if (await Redis.CommandAsync(sp, "SENTINEL", "get-master-addr-by-name", "mymaster") is object?[] { Length: 2 } reply &&
                    reply[0] is string host && reply[1] is string port)
                {
                    answers.Add((host, int.Parse(port, CultureInfo.InvariantCulture)));
                }
            }
            catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or OperationCanceledException)
            {
            }
        }

        return answers.GroupBy(a => a).Where(g => g.Count() >= 2).Select(g => g.Key).FirstOrDefault() is { Item1: not null } majority
            ? majority
            : throw new IOException("no sentinel majority");
    }

    resolve = Resolve;
    primaryPort = async () => (await Resolve(default)).Item2;
    settled = async () =>
    {
        var master = (await Resolve(default)).Item2;
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
var load = new RedisWriteLoad(resolve, waitReplicas: 1, prefix: $"bench:{mode}:");
using var stop = new CancellationTokenSource();
var running = load.RunAsync(stop.Token);
await Task.Delay(TimeSpan.FromSeconds(1), TimeProvider.System);
var results = new List<double>();
for (var trial = 0; trial < trials; trial++)
{
    await BenchProcesses.WaitAsync(settled, TimeSpan.FromSeconds(90), $"trial {trial}: a settled group");
    await Task.Delay(TimeSpan.FromMilliseconds(500), TimeProvider.System);
    var port = await primaryPort();
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
    restartIfNeeded(port);
}

await Task.Delay(TimeSpan.FromMilliseconds(500), TimeProvider.System);
await stop.CancelAsync();
await running;
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
var summary = new
{
    system = mode, trials, completed = sorted.Count,
    medianMs = sorted.Count == 0 ? double.NaN : sorted[sorted.Count / 2],
    maxMs = sorted.Count == 0 ? double.NaN : sorted[^1],
    minMs = sorted.Count == 0 ? double.NaN : sorted[0],
    writes = new { attempted = load.Attempted, acknowledged = load.Acked, failed = load.Failed, lost },
    samplesMs = results.Select(r => Math.Round(r, 1)).ToArray(),
};
Console.WriteLine(JsonSerializer.Serialize(summary));
