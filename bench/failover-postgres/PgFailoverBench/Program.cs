using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Halo.Agent.Drills;
using Halo.Bench.Shared;
using PgFailoverBench;

// Usage: PgFailoverBench halo|patroni|pg_auto_failover node|postmaster <trials> <halo.dll> <workdir>
// Three PostgreSQL 15 servers under one HA system, a closed loop of single-row commits through the system's client path,
// kill -9 per trial (node death: the system's agent and the postmaster at once; postmaster: the postmaster only), and the
// time from the kill to the first committed write, committed transactions lost (read back at the end), and rejoin time
// (kill, or restart of the dead node, to the old primary streaming again; for pg_auto_failover's postmaster-only crash, which its keeper
// restarts in place, to the killed node serving again in the role its monitor gives it — see PgAutoFailoverSystem).
var (system, scenario, trials, haloDll, work) = (args[0], args[1], int.Parse(args[2], CultureInfo.InvariantCulture), args[3], args[4]);
Directory.CreateDirectory(work);
await using var procs = new BenchProcesses();
SystemUnderTest sut = system switch
{
    "halo" => new HaloSystem(procs, work, haloDll),
    "patroni" => new PatroniSystem(procs, work),
    "pg_auto_failover" => new PgAutoFailoverSystem(procs, work),
    _ => throw new ArgumentException($"unknown system {system}"),
};
await sut.StartAsync();
await BenchProcesses.WaitAsync(sut.SettledAsync, TimeSpan.FromSeconds(180), "a settled group");
await BenchProcesses.WaitAsync(async () =>
{
    await PostgresWriteLoad.CreateTableAsync(sut.Connection, default);
    return true;
}, TimeSpan.FromSeconds(30), "the table");
var load = new PostgresWriteLoad(_ => Task.FromResult(sut.Connection), $"bench-{system}-{scenario}");
using var stop = new CancellationTokenSource();
var running = load.RunAsync(stop.Token);
var firsts = new List<double>();
var rejoins = new List<double>();
var moved = 0; // trials after which another member was the primary
for (var trial = 0; trial < trials; trial++)
{
    await BenchProcesses.WaitAsync(sut.SettledAsync, TimeSpan.FromSeconds(180), $"trial {trial}: a settled group");
    var acked = load.Acked;
    await BenchProcesses.WaitAsync(() => Task.FromResult(load.Acked > acked + 50), TimeSpan.FromSeconds(30), "commits before the kill");
    var victim = await sut.PrimaryAsync();
    var killedPostmaster = sut.PostmasterPid(victim);
    var killedAt = TimeProvider.System.GetTimestamp();
    if (scenario == "node")
    {
        sut.KillNode(victim);
    }
    else
    {
        sut.KillPostmaster(victim);
    }

    TimeSpan? first = null;
    var waiting = TimeProvider.System.GetTimestamp();
    while (first is null && TimeProvider.System.GetElapsedTime(waiting) < TimeSpan.FromSeconds(120))
    {
        await Task.Delay(TimeSpan.FromMilliseconds(5), TimeProvider.System);
        first = load.RecoveryAfter(killedAt);
    }

    firsts.Add(first?.TotalMilliseconds ?? double.NaN);
    var rejoinFrom = TimeProvider.System.GetTimestamp();
    if (scenario == "node")
    {
        await BenchProcesses.WaitAsync(async () => await sut.PrimaryAsync() != victim, TimeSpan.FromSeconds(120), "the primary role to move");
        rejoinFrom = TimeProvider.System.GetTimestamp();
        sut.RestartNode(victim);
    }
    else
    {
        rejoinFrom = killedAt;
    }

    if (scenario == "node")
    {
        await BenchProcesses.WaitAsync(() => sut.StreamingAsync(victim), TimeSpan.FromSeconds(180), "the old primary to stream again");
    }
    else
    {
        await BenchProcesses.WaitAsync(async () => sut.PostmasterPid(victim) != killedPostmaster && await sut.BackAfterPostmasterCrashAsync(victim),
            TimeSpan.FromSeconds(180), "the old primary back after its crash");
    }

    rejoins.Add(TimeProvider.System.GetElapsedTime(rejoinFrom).TotalMilliseconds);
    var newPrimary = -1;
    await BenchProcesses.WaitAsync(async () => (newPrimary = await sut.PrimaryAsync()) >= 0, TimeSpan.FromSeconds(60), "the primary after the trial");
    if (newPrimary != victim)
    {
        moved++;
    }

    Console.Error.WriteLine($"{system} {scenario} trial {trial}: killed n{victim + 1}; first commit after {first?.TotalMilliseconds:0} ms; rejoined after {rejoins[^1]:0} ms; " +
        $"primary now n{newPrimary + 1}{(newPrimary == victim ? " (restarted in place, no failover)" : "")}");
}

await Task.Delay(TimeSpan.FromMilliseconds(500), TimeProvider.System);
await stop.CancelAsync();
await running;
long lost = -1;
for (var attempt = 0; attempt < 10 && lost < 0; attempt++)
{
    try
    {
        lost = await load.CountLostAsync(default);
    }
    catch (Exception ex) when (ex is Npgsql.NpgsqlException or IOException or OperationCanceledException)
    {
        await Task.Delay(TimeSpan.FromSeconds(1), TimeProvider.System);
    }
}

static double Median(List<double> xs) => xs.Where(x => !double.IsNaN(x)).Order().ElementAtOrDefault(xs.Count(x => !double.IsNaN(x)) / 2);
Console.WriteLine(JsonSerializer.Serialize(new
{
    system, scenario, trials, completed = firsts.Count(f => !double.IsNaN(f)),
    medianFirstCommitMs = Math.Round(Median(firsts)), maxFirstCommitMs = Math.Round(firsts.Where(f => !double.IsNaN(f)).DefaultIfEmpty(double.NaN).Max()),
    medianRejoinMs = Math.Round(Median(rejoins)), maxRejoinMs = Math.Round(rejoins.DefaultIfEmpty(double.NaN).Max()),
    primaryMovedTrials = moved,
    commits = new { attempted = load.Attempted, acknowledged = load.Acked, failed = load.Failed, lost },
    firstCommitMs = firsts.Select(f => Math.Round(f)).ToArray(),
    rejoinMs = rejoins.Select(r => Math.Round(r)).ToArray(),
}));
