// Every wait in these tests has its own bound.
#pragma warning disable xUnit1051

using System.Diagnostics;
using Halo.Agent.Drills;
using Halo.Client;
using Halo.Core.Failover;
using Halo.IntegrationTests.Failover;
using Halo.IntegrationTests.Gateway;
using Halo.IntegrationTests.Security;

namespace Halo.IntegrationTests.Ha;

/// <summary>
/// Issue 9's kill scenario as one test, every part a real process: a three-member etcd, three `halo server`s, 200 instances
/// heartbeating at 1 Hz, a client registering, a `halo gateway` proxying to three backends, a change-feed client, and a Redis
/// group of three redis-servers run by three `halo agent`s with writes through a `halo tcp-proxy`. Then kill -9 of one server:
/// the one that decides the Redis group, or one that decides nothing. Every client is given the victim first, so each must
/// move. Nothing a user sees may change: 0 instances marked critical, 0 failed gateway requests, 0 refused Redis writes (the
/// agents move to another server before the primary's renew deadline), registrations succeed again within 2 s, the feed
/// resumes with no gap or duplicate; the group keeps its primary in its epoch and loses nothing. Then the victim restarts on
/// its port and rejoins.
/// </summary>
[Collection(nameof(GatewayProcessCollection))]
public sealed class ServerKillScenarioTests(ITestOutputHelper output)
{
    private const string Group = "cache";
    private const int Services = 8;
    private const int PerService = 25;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    /// <summary>Which server dies: the Redis group's decider, or a server that decides no group (it still owns instances).</summary>
    public enum Victim
    {
        Decider,
        Bystander,
    }

    [Theory]
    [InlineData(Victim.Decider)]
    [InlineData(Victim.Bystander)]
    public async Task KillOneServer_FleetGatewayFeedAndRedisGroupAsProcesses_NothingUsersSeeChanges(Victim which)
    {
        await using var etcd = await EtcdCluster.StartAsync();
        await using var servers = await ServerCluster.StartAsync(etcd);
        await using var scope = new ProcessScope(output, "scenario", outputLines: 20);
        using var gatewayScenario = new GatewayScenario();
        var run = new Run(servers, scope, gatewayScenario);
        try
        {
            await RunAsync(which, run);
        }
        catch (Exception ex)
        {
            // A failure under stress-ng must be diagnosable from the run's files: the figure line names the file with the logs.
            var file = Path.Combine(AppContext.BaseDirectory, $"scenario-logs-{which}-{DateTimeOffset.UtcNow:yyyyMMdd-HHmmss}.txt");
            await File.WriteAllTextAsync(file, $"{ex}\n--- timeline:\n{run.Timeline}\n--- gateway:\n{(gatewayScenario.Gateway?.Output ?? "")}\n{servers.Logs(400)}");
            Record($"{which}: FAILED: {ex.GetType().Name}: {ex.Message.Split('\n')[0]} (logs: {Path.GetFileName(file)}; load {Load()})");
            throw;
        }
    }

    private async Task RunAsync(Victim which, Run run)
    {
        var (servers, scope, scenario) = (run.Servers, run.Scope, run.Gateway);
        var urls = Enumerable.Range(0, servers.Count).Select(servers.Url).ToList();
        await scenario.StartBackendsAsync("b1", "b2", "b3");

        // 200 instances in 8 services (so every server owns some) plus the gateway's backends, all heartbeating at 1 Hz.
        var instances = Enumerable.Range(0, Services * PerService).Select(i => ($"svc-{i % Services}", $"i-{i}", 10_000 + i))
            .Concat(scenario.Backends.Select(b => ("web", b.Name, b.Url.Port))).ToList();
        await using var fleet = new InstanceFleet(urls, instances, servers.Token);
        await fleet.StartAsync(TimeSpan.FromSeconds(1));
        await Eventually.UntilAsync(async () => (await servers.GetJsonAsync(0, "v1/cluster")).GetProperty("members").GetArrayLength() == 3, Bound, "three members");

        using var groups = new GroupClient(new HaloClientOptions { Servers = urls, Token = servers.Token });
        await groups.PutAsync(Group, new GroupPolicy { AntiFlapWindow = TimeSpan.Zero });
        var decider = await DeciderKillTests.RedisGroup.WaitDeciderAsync(servers, 0);
        var owned = (await servers.GetJsonAsync(decider, "v1/cluster")).GetProperty("members").EnumerateArray()
            .ToDictionary(m => m.GetProperty("url").GetString()!.TrimEnd('/'), m => m.GetProperty("services").GetArrayLength());
        int Owns(int i) => owned.GetValueOrDefault(servers.Url(i).ToString().TrimEnd('/'));
        var victim = which == Victim.Decider
            ? decider
            : Enumerable.Range(0, servers.Count).Where(i => i != decider).MaxBy(Owns);
        if (which == Victim.Bystander)
        {
            Assert.True(Owns(victim) > 0, $"the killed server must own services, or the test proves nothing about their handoff: {string.Join(", ", owned)}");
        }

        var survivor = Enumerable.Range(0, servers.Count).First(i => i != victim);
        // Every client takes all three servers, the victim first: its death forces each of them to move.
        var serverList = string.Join(',', Enumerable.Range(0, servers.Count).Select(i => servers.Url((victim + i) % servers.Count).ToString().TrimEnd('/')));
        output.WriteLine($"group {Group} decided by server {decider}; victim {which} = server {victim} (owns {Owns(victim)} services); clients use {serverList}");

        // The Redis group: the agents fence at the renew deadline (--failsafe off), so a refused write shows that an agent did
        // not move to another server in time; with the failsafe on the primary would write on promises and hide it.
        var agents = new List<(string Name, HaloProcess Process)>();
        for (var i = 0; i < 3; i++)
        {
            var redis = await scope.StartRedisAsync();
            var name = DeciderKillTests.RedisGroup.Name(i);
            agents.Add((name, scope.Start("agent", "--group", Group, "--member", name, "--redis", redis.Address, "--server", serverList, "--failsafe", "off")));
        }

        var proxy = scope.Start("tcp-proxy", "--group", Group, "--role", "primary", "--listen", "127.0.0.1:0", "--server", serverList);
        var proxyPort = new Uri("tcp://" + (await proxy.WaitForLineAsync($"halo tcp-proxy for {Group}/primary listening on ", Bound)).Split(' ')[^1]).Port;
        var processes = agents.Append(("proxy", proxy)).ToList();
        var before = await GroupWait.UntilAsync(groups, Group, s => s.PrimaryConfirmed && s.Members.Count(m => m.Role == MemberRole.Replica && m.Healthy && m.Fresh) == 2, Bound);

        await scenario.StartGatewayAsync(GatewayScenario.WebRoundRobin, serverList);
        await Eventually.UntilAsync(async () => (await LoadRun.RunAsync(scenario.GatewayUrl, 2, TimeSpan.FromMilliseconds(300))).ByBackend.Count == 3,
            Bound, "the gateway to route to every backend");

        var writes = new RedisWriteLoad(_ => Task.FromResult(("127.0.0.1", proxyPort)), 0, "scenario:");
        using var stopWrites = new CancellationTokenSource();
        var writing = writes.RunAsync(stopWrites.Token);
        await Eventually.UntilAsync(() => writes.Acked > 200, Bound, "writes through the proxy before the kill");

        var from = (await servers.GetJsonAsync(survivor, "v1/catalog")).GetProperty("revision").GetInt64();
        await using var feed = new FeedWatcher(urls, from, firstServer: victim, token: servers.Token);
        var registrations = servers.RegisterContinuouslyAsync(victim, out var registrar);
        var gatewayLoad = LoadRun.RunAsync(scenario.GatewayUrl, 2, TimeSpan.FromSeconds(20));
        await Task.Delay(TimeSpan.FromSeconds(3));

        // Health events and refused writes from here on are the kill's: under stress-ng the starting fleet itself can miss
        // heartbeats (instances went critical and back 20 s before the kill in 3 of 5 runs of the former ServerKillTests).
        var killRevision = (await servers.GetJsonAsync(survivor, "v1/catalog")).GetProperty("revision").GetInt64();
        var failedBefore = writes.Failed;
        var killedAt = Stopwatch.GetTimestamp();
        var killedAtUtc = DateTimeOffset.UtcNow;
        servers.Kill(victim);
        output.WriteLine($"killed server {victim} at {killedAtUtc:HH:mm:ss.fff}; primary {before.Primary} epoch {before.Epoch}; load {Load()}");

        // Membership TTL (5 s) + handoff grace (2 s) + detection bound (3.5 s) + margin: long enough that a wrongly judged
        // instance, a failover caused by the handoff or a renewal that missed its deadline would show.
        await Task.Delay(TimeSpan.FromSeconds(12));
        var gateway = await gatewayLoad;
        await registrar.CancelAsync();
        var registered = await registrations;
        var refused = writes.Failed - failedBefore;
        run.Timeline = KillTimeline.FromProcesses(writes.FailedWrites, killedAtUtc, killedAtUtc, processes);

        var critical = await CriticalSinceAsync(servers, survivor, killRevision);
        var members = (await servers.GetJsonAsync(survivor, "v1/cluster")).GetProperty("members").GetArrayLength();
        var deciderAfter = await DeciderKillTests.RedisGroup.WaitDeciderAsync(servers, survivor);
        var after = await GroupWait.UntilAsync(groups, Group, s => s.PrimaryConfirmed, Bound);
        var acked = writes.Acked;
        await Eventually.UntilAsync(() => writes.Acked > acked + 100, Bound, "writes through the proxy after the kill");
        var firstAfterKill = registered.Where(r => r.At > killedAt).Select(r => r.At).DefaultIfEmpty(long.MaxValue).Min();
        var gap = Stopwatch.GetElapsedTime(killedAt, firstAfterKill);
        Record($"{which}: killed server {victim} (owned {Owns(victim)} services); refused writes {refused} (before the kill {failedBefore}, acked {writes.Acked}); " +
            $"gateway {gateway.Failures} failed of {gateway.Requests}; critical {critical.Count}; registrations {registered.Count}, first after the kill " +
            $"{gap.TotalMilliseconds:0} ms later; decider {decider} -> {deciderAfter}; epoch {before.Epoch} -> {after.Epoch}, primary {before.Primary} -> " +
            $"{after.Primary}; heartbeats sent {fleet.Sent}, lost {fleet.Lost}; feed resumes {feed.Resumes.Count}; load {Load()}");
        output.WriteLine(run.Timeline);

        Assert.True(critical.Count == 0, $"instances marked critical because a server died:\n{string.Join('\n', critical)}");
        Assert.True(gateway.Failures == 0, $"gateway requests failed: {gateway}");
        Assert.True(refused == 0, $"{refused} Redis writes refused after the kill; {run.Timeline}");
        // The primary's agent reached another server before its renew deadline: it never fenced itself.
        var primaryFenced = agents.Single(a => a.Name == before.Primary).Process.TimedOutput
            .Where(l => l.At >= killedAtUtc && l.Line.Contains(": fenced (writes refused)", StringComparison.Ordinal)).Select(l => l.Line).ToList();
        Assert.True(primaryFenced.Count == 0, $"the primary fenced after the kill: {string.Join(" | ", primaryFenced)}; {run.Timeline}");
        Assert.True(gap < TimeSpan.FromSeconds(2), $"no registration succeeded within 2 s of the kill (first after {gap})");
        Assert.Equal(2, members);
        if (which == Victim.Decider)
        {
            Assert.NotEqual(victim, deciderAfter);
        }
        else
        {
            Assert.Equal(decider, deciderAfter);
        }

        // A server's death is no reason to fail the group over: same primary, same epoch.
        Assert.Equal(before.Epoch, after.Epoch);
        Assert.Equal(before.Primary, after.Primary);

        // The feed: what the resuming client saw is exactly what one uninterrupted stream from the same revision shows.
        await Eventually.UntilAsync(() => feed.Last >= registered.Max(r => r.Revision), TimeSpan.FromSeconds(10), "the feed to catch up");
        var seen = feed.Seen.ToList();
        var expected = await FeedWatcher.ReplayAsync(servers.Url(survivor), from, seen[^1].Revision, TimeSpan.FromSeconds(30), servers.Token);
        Assert.NotEmpty(feed.Resumes);
        Assert.Equal(expected, seen);

        // The victim comes back on its port (the clients' lists name it) and rejoins; still nothing critical, no write refused.
        var failedBeforeRestart = writes.Failed;
        await servers.RestartAsync(victim);
        await Eventually.UntilAsync(async () => (await servers.GetJsonAsync(survivor, "v1/cluster")).GetProperty("members").GetArrayLength() == 3,
            Bound, "the restarted server to rejoin");
        await Task.Delay(TimeSpan.FromSeconds(6));
        await stopWrites.CancelAsync();
        await writing;
        var criticalAfterRejoin = await CriticalSinceAsync(servers, victim, killRevision);
        var lost = await writes.CountLostAsync(default);
        Record($"{which}: restarted server {victim} rejoined; refused writes meanwhile {writes.Failed - failedBeforeRestart}; critical {criticalAfterRejoin.Count}; lost {lost}");
        Assert.Empty(criticalAfterRejoin);
        // Every write from the kill to the end, the checks between the two phases included.
        Assert.True(writes.Failed == failedBefore, $"{writes.Failed - failedBefore} writes refused after the kill ({writes.Failed - failedBeforeRestart} " +
            $"from the restart on); {KillTimeline.FromProcesses(writes.FailedWrites, killedAtUtc, killedAtUtc, processes)}");
        Assert.Equal(0, lost);
    }

    /// <summary>Health events to critical after <paramref name="revision"/>, as server <paramref name="ask"/> lists them.</summary>
    private static async Task<List<string>> CriticalSinceAsync(ServerCluster servers, int ask, long revision) =>
        (await servers.GetJsonAsync(ask, "v1/events?type=health&limit=10000")).GetProperty("events").EnumerateArray()
            .Where(e => e.GetProperty("to").GetString() == "critical" && e.GetProperty("revision").GetInt64() > revision)
            .Select(e => $"{e.GetProperty("service")}/{e.GetProperty("instance")}: {e.GetProperty("cause")}").ToList();

    private static string Load() => File.ReadAllText("/proc/loadavg").Trim();

    /// <summary>Prints a figure and keeps it beside the test binary (scenario-figures.txt): a stressed run's output is not kept.</summary>
    private void Record(string line)
    {
        output.WriteLine(line);
        File.AppendAllText(Path.Combine(AppContext.BaseDirectory, "scenario-figures.txt"), $"{DateTimeOffset.UtcNow:u} {line}\n");
    }

    /// <summary>What a failed run's log file needs: the fixtures and the timeline so far.</summary>
    private sealed class Run(ServerCluster servers, ProcessScope scope, GatewayScenario gateway)
    {
        public ServerCluster Servers { get; } = servers;
        public ProcessScope Scope { get; } = scope;
        public GatewayScenario Gateway { get; } = gateway;
        public string Timeline { get; set; } = "(not yet: the kill did not happen)";
    }
}
