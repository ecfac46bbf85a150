// Every wait in these tests has its own bound.
#pragma warning disable xUnit1051

using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using Halo.Agent.Drills;
using Halo.IntegrationTests.Failover;

namespace Halo.IntegrationTests.Ha;

/// <summary>
/// The failsafe (issue 9.5, docs/ha.md "The data path outlives the control plane") with real components: three Redis servers
/// with agents whose failsafe is on, writes through `halo tcp-proxy`'s TCP proxy acknowledged by WAIT 1, three real `halo
/// server`s over a real three-member etcd. Every test samples every Redis each 10 ms for a second writable primary.
/// </summary>
[Collection("redis-failover")]
public sealed class FailsafeTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    /// <summary>With the failsafe as `halo agent` has it by default (on since 2026-11-29).</summary>
    [Fact]
    public async Task KillEveryServerForTenSeconds_Failsafe_WritesKeepSucceedingNoFailover()
    {
        await using var etcd = await EtcdCluster.StartAsync();
        await using var servers = await ServerCluster.StartAsync(etcd);
        await using var group = await DeciderKillTests.RedisGroup.StartAsync(servers, output);
        var before = await group.StatusAsync();
        var primary = group.Agents[int.Parse(before.Primary!.AsSpan(1)) - 1];
        await Eventually.UntilAsync(() => Task.FromResult(primary.FailsafeArmed), Bound, "the decider to store the primary's failsafe members");
        var load = new RedisWriteLoad(_ => Task.FromResult(("127.0.0.1", group.Proxy.LocalEndpoint.Port)), 1, "failsafe-all:");
        using var stop = new CancellationTokenSource();
        var running = load.RunAsync(stop.Token);
        var samples = FailoverCluster.SplitBrainSamplesAsync(group.Redis, stop.Token);
        await Eventually.UntilAsync(() => Task.FromResult(load.Acked > 200), Bound, "writes before the kill");

        var failedBefore = load.Failed;
        var killedAt = Stopwatch.GetTimestamp();
        var killedAtUtc = DateTimeOffset.UtcNow;
        for (var i = 0; i < servers.Count; i++)
        {
            servers.Kill(i);
        }

        var sawFailsafe = false;
        while (Stopwatch.GetElapsedTime(killedAt) < TimeSpan.FromSeconds(10))
        {
            sawFailsafe |= primary.InFailsafe;
            await Task.Delay(50);
        }

        var (ackedWhileDown, failedWhileDown) = (load.Acked, load.Failed - failedBefore);
        var returnedAt = Stopwatch.GetTimestamp();
        var returnedAtUtc = DateTimeOffset.UtcNow;
        await Task.WhenAll(Enumerable.Range(0, servers.Count).Select(servers.RestartAsync));
        await Eventually.UntilAsync(async () => await group.TryStatusAsync() is { PrimaryConfirmed: true }, Bound, "a confirmed primary after the servers returned");
        await Eventually.UntilAsync(() => Task.FromResult(!primary.InFailsafe), Bound, "the primary's lease renewed again");
        var acked = load.Acked;
        await Eventually.UntilAsync(() => Task.FromResult(load.Acked > acked + 100), Bound, "writes after the servers returned");
        await stop.CancelAsync();
        await running;
        var violations = await samples;

        var after = await group.StatusAsync();
        Record($"failsafe, servers down 10 s: failed {failedWhileDown} while down, {load.Failed - failedBefore} in all from the kill; acked {load.Acked} " +
            $"(by the restart {ackedWhileDown}); failsafe seen {sawFailsafe}; back {Stopwatch.GetElapsedTime(returnedAt).TotalSeconds:0.0} s after the restart; " +
            $"epoch {before.Epoch} -> {after.Epoch}, primary {before.Primary} -> {after.Primary}; failed writes by kind {Kinds(load)}; {Handoff(group, servers)}");
        if (load.Failed != failedBefore || after.Epoch != before.Epoch || !sawFailsafe)
        {
            Dump("servers down 10 s\n" + FailedWrites(load, group, ("the kill", killedAtUtc), ("the restart", returnedAtUtc)), group, servers);
        }

        Assert.Empty(violations);
        Assert.True(sawFailsafe, $"the primary never wrote on promises\n{group.Logs()}");
        // Refused: Redis said no (NOREPLICAS, READONLY), WAIT was not met, or the connection was dropped (the proxy closes its
        // connections to a primary it stops routing to). A write the client gave up on after its 1 s timeout is not a refusal if
        // nothing in the data path changed: the primary never fenced and the proxy never stopped routing to it. Under stress-ng
        // --cpu 4 at load 30+, three servers starting stall this process for up to 0.9 s (no agent logs a line meanwhile), and a
        // write through its in-process proxy times out (2026-11-29, 2 writes, primary writable on promises throughout).
        var sinceKill = load.FailedWrites.Where(f => f.StartedAt >= killedAtUtc).ToList();
        var timedOut = sinceKill.Count(f => f.Why.StartsWith(nameof(OperationCanceledException), StringComparison.Ordinal));
        var changed = group.Logs(int.MaxValue).Split('\n').Where(l => LoggedAt(l, killedAtUtc) >= killedAtUtc &&
            (l.Contains(": fenced (writes refused)", StringComparison.Ordinal) || l.Contains("(confirmed: False)", StringComparison.Ordinal) ||
             l.Contains("TCP proxy cache: closed", StringComparison.Ordinal))).ToList();
        var why = $"\n{FailedWrites(load, group, ("the kill", killedAtUtc), ("the restart", returnedAtUtc))}";
        Assert.True(load.Failed - failedBefore == timedOut, $"{load.Failed - failedBefore - timedOut} writes refused, expected 0{why}");
        Assert.True(timedOut == 0 || (changed.Count == 0 && timedOut <= 5),
            $"{timedOut} writes timed out while the data path changed ({string.Join(" | ", changed)}) or more than 5{why}");
        Assert.Equal(before.Epoch, after.Epoch);
        Assert.Equal(before.Primary, after.Primary);
        Assert.Equal(0, await load.CountLostAsync(default));
    }

    [Fact]
    public async Task KillTwoEtcdMembers_Failsafe_ControlPlaneWrites503DataPathKeepsServing()
    {
        await using var etcd = await EtcdCluster.StartAsync();
        await using var servers = await ServerCluster.StartAsync(etcd);
        await using var group = await DeciderKillTests.RedisGroup.StartAsync(servers, output, failsafe: true);
        var before = await group.StatusAsync();
        var primary = group.Agents[int.Parse(before.Primary!.AsSpan(1)) - 1];
        await Eventually.UntilAsync(() => Task.FromResult(primary.FailsafeArmed), Bound, "the decider to store the primary's failsafe members");
        var load = new RedisWriteLoad(_ => Task.FromResult(("127.0.0.1", group.Proxy.LocalEndpoint.Port)), 1, "failsafe-etcd:");
        using var stop = new CancellationTokenSource();
        var running = load.RunAsync(stop.Token);
        var samples = FailoverCluster.SplitBrainSamplesAsync(group.Redis, stop.Token);
        await Eventually.UntilAsync(() => Task.FromResult(load.Acked > 200), Bound, "writes before the kill");

        var failedBefore = load.Failed;
        var sawFailsafe = false;
        using var watch = new CancellationTokenSource();
        var watching = Task.Run(async () =>
        {
            while (!watch.IsCancellationRequested)
            {
                sawFailsafe |= primary.InFailsafe;
                await Task.Delay(20);
            }
        });
        await etcd.KillAsync(0);
        await etcd.KillAsync(1);
        var killedAt = Stopwatch.GetTimestamp();
        using var http = servers.Http(TimeSpan.FromSeconds(10));
        await Task.Delay(TimeSpan.FromSeconds(3));
        var answers = await Task.WhenAll(Enumerable.Range(0, servers.Count).Select(async i =>
        {
            using var response = await http.PutAsJsonAsync(new Uri(servers.Url(i), $"v1/services/quorum/instances/q-{i}"), new { address = "127.0.0.1", port = 31_000 + i });
            return (response.StatusCode, response.Content.Headers.ContentType?.MediaType);
        }));
        Assert.All(answers, a => Assert.Equal((HttpStatusCode.ServiceUnavailable, "application/problem+json"), a));
        var rest = TimeSpan.FromSeconds(10) - Stopwatch.GetElapsedTime(killedAt);
        await Task.Delay(rest > TimeSpan.Zero ? rest : TimeSpan.Zero);

        var failedWhileDown = load.Failed - failedBefore;
        var seenWhileDown = sawFailsafe;
        await watch.CancelAsync();
        await watching;
        await Task.WhenAll(etcd.RestartAsync(0), etcd.RestartAsync(1));
        await Eventually.UntilAsync(async () => await servers.RegisterAsync(0, "quorum", "q-0", 31_000, http) is 200 or 201, Bound, "control-plane writes after quorum returned");
        await Eventually.UntilAsync(() => Task.FromResult(!primary.InFailsafe), Bound, "the primary's lease renewed again");
        var acked = load.Acked;
        await Eventually.UntilAsync(() => Task.FromResult(load.Acked > acked + 100), Bound, "writes after quorum returned");
        await stop.CancelAsync();
        await running;
        var violations = await samples;

        var after = await group.StatusAsync();
        Record($"failsafe, two etcd members down 10 s: refused {failedWhileDown} while down, {load.Failed - failedBefore} in all; acked {load.Acked}; " +
            $"failsafe seen {seenWhileDown}; epoch {before.Epoch} -> {after.Epoch}, primary {before.Primary} -> {after.Primary}; failed writes by kind {Kinds(load)}");
        if (load.Failed != failedBefore || after.Epoch != before.Epoch || !seenWhileDown)
        {
            Dump("two etcd members down", group, servers);
        }

        Assert.Empty(violations);
        Assert.Equal(0, failedWhileDown);
        // Asserted since 2026-11-29 (the failover after the quorum returned at load 72, epoch 3 -> 4, came from a fresh decider's
        // answer without the replicas' addresses and from the agent taking a slow probe for a restart; docs/ha.md "Failsafe runs").
        Assert.Equal(before.Epoch, after.Epoch);
        Assert.Equal(before.Primary, after.Primary);
        Assert.Equal(0, await load.CountLostAsync(default));
    }

    /// <summary>
    /// The danger the failsafe must survive: the primary cut off from every server while the servers and the replicas still reach
    /// each other. The replicas may promise until the decider opens a position round to replace it; then they refuse, the
    /// primary fences when its last promise runs out, and only then is a replica promoted: never two writable primaries,
    /// nothing acknowledged lost.
    /// </summary>
    [Fact]
    public async Task PrimaryCutOffFromTheServers_Failsafe_FencesBeforeAnyReplicaIsPromoted()
    {
        var cut = -1;
        await using var etcd = await EtcdCluster.StartAsync();
        await using var servers = await ServerCluster.StartAsync(etcd);
        await using var group = await DeciderKillTests.RedisGroup.StartAsync(servers, output, failsafe: true, partitioned: i => i == Volatile.Read(ref cut));
        var before = await group.StatusAsync();
        var old = int.Parse(before.Primary!.AsSpan(1)) - 1;
        var primary = group.Agents[old];
        await Eventually.UntilAsync(() => Task.FromResult(primary.FailsafeArmed), Bound, "the decider to store the primary's failsafe members");
        var load = new RedisWriteLoad(_ => Task.FromResult(("127.0.0.1", group.Proxy.LocalEndpoint.Port)), 1, "failsafe-cut:");
        using var stop = new CancellationTokenSource();
        var running = load.RunAsync(stop.Token);
        var samples = FailoverCluster.SplitBrainSamplesAsync(group.Redis, stop.Token);
        await Eventually.UntilAsync(() => Task.FromResult(load.Acked > 200), Bound, "writes before the cut");

        var cutAt = Stopwatch.GetTimestamp();
        Volatile.Write(ref cut, old);
        var sawFailsafe = false;
        var watching = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                sawFailsafe |= primary.InFailsafe;
                await Task.Delay(20);
            }
        });
        try
        {
            await Eventually.UntilAsync(async () => await group.TryStatusAsync() is { PrimaryConfirmed: true } s && s.Epoch > before.Epoch, Bound, "a new confirmed primary");
        }
        catch (TimeoutException)
        {
            var status = await group.TryStatusAsync();
            Dump($"primary cut off, no new primary: epoch {status?.Epoch} primary {status?.Primary} confirmed {status?.PrimaryConfirmed} " +
                 $"round {status?.Round?.Id} blocked '{status?.Blocked}'", group, servers);
            throw;
        }
        var recovered = await load.WaitRecoveryAsync(cutAt, Bound, CancellationToken.None);
        if (recovered is null)
        {
            var status = await group.TryStatusAsync();
            var why = $"no acknowledged write after a failed one since the cut: epoch {status?.Epoch} primary {status?.Primary} confirmed " +
                      $"{status?.PrimaryConfirmed}; acked {load.Acked}, failed writes by kind {Kinds(load)}";
            Dump($"primary cut off, {why}", group, servers);
            throw new TimeoutException(why);
        }
        var acked = load.Acked;
        await Eventually.UntilAsync(() => Task.FromResult(load.Acked > acked + 100), Bound, "writes on the new primary");
        await stop.CancelAsync();
        await running;
        await watching;
        var violations = await samples;

        var after = await group.StatusAsync();
        var oldRole = await group.Redis[old].RoleAsync();
        Record($"failsafe, primary {before.Primary} cut off from the servers: new primary {after.Primary} epoch {after.Epoch} after {recovered.Value.TotalSeconds:0.00} s; " +
            $"old primary writable {oldRole?.Writable}; failsafe seen {sawFailsafe}; acked {load.Acked}; failed writes by kind {Kinds(load)}");
        Assert.Empty(violations);
        Assert.NotEqual(before.Primary, after.Primary);
        Assert.False(oldRole?.Writable ?? false, "the cut-off primary still takes writes");
        Assert.Equal(0, await load.CountLostAsync(default));
    }

    /// <summary>
    /// Every failed write since the first of <paramref name="marks"/>: when it started relative to each mark, how long it took, the
    /// answer (Redis's error, WAIT's count, the exception), and the agents' and the proxy's log lines from 2 s before it to 1 s after.
    /// </summary>
    internal static string FailedWrites(RedisWriteLoad load, DeciderKillTests.RedisGroup group, params (string Name, DateTimeOffset At)[] marks)
    {
        var lines = group.Logs(int.MaxValue).Split('\n');
        var text = new System.Text.StringBuilder();
        foreach (var f in load.FailedWrites.Where(f => f.StartedAt >= marks[0].At))
        {
            var relative = string.Join(", ", marks.Select(m => $"{(f.StartedAt - m.At).TotalSeconds:+0.000;-0.000} s from {m.Name}"));
            text.AppendLine(CultureInfo.InvariantCulture, $"write {f.Id} started {f.StartedAt:HH:mm:ss.fff} ({relative}), took {f.Took.TotalMilliseconds:0} ms: {f.Why}");
            foreach (var line in lines.Where(l => LoggedAt(l, f.StartedAt) is { } at && at >= f.StartedAt.AddSeconds(-2) && at <= f.StartedAt + f.Took + TimeSpan.FromSeconds(1)))
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"    {line}");
            }
        }

        return text.ToString();
    }

    /// <summary>
    /// How the returning servers handed the group around: how many took it (event 3020), restored the primary's lease (3023) or lost
    /// a compare-and-set on the leader record (3004), and every route the proxy took meanwhile (an unconfirmed one closes its connections).
    /// </summary>
    private static string Handoff(DeciderKillTests.RedisGroup group, ServerCluster servers)
    {
        var server = servers.Logs(int.MaxValue);
        int Count(string what) => server.Split('\n').Count(l => l.Contains(what, StringComparison.Ordinal));
        var routes = group.Logs(int.MaxValue).Split('\n').Where(l => l.Contains(" proxy ", StringComparison.Ordinal)).Select(l => l.Length > 120 ? l[..120] : l);
        return $"servers: took the group {Count("this server decides it now")}, restored the lease {Count("restored under a new lease")}, " +
               $"lost a leader compare-and-set {Count("compare-and-set of the leader record lost")}; proxy: [{string.Join(" | ", routes)}]";
    }

    /// <summary>The time a log line of the group (HH:mm:ss.fff first) was written, on the day of <paramref name="near"/>.</summary>
    internal static DateTimeOffset? LoggedAt(string line, DateTimeOffset near) =>
        line.Length >= 12 && TimeOnly.TryParseExact(line.AsSpan(0, 12), "HH:mm:ss.fff", CultureInfo.InvariantCulture, DateTimeStyles.None, out var t)
            ? new DateTimeOffset(near.UtcDateTime.Date + t.ToTimeSpan(), TimeSpan.Zero)
            : null;

    internal static string Kinds(RedisWriteLoad load) =>
        load.Failures.Count == 0 ? "none" : string.Join(", ", load.Failures.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => $"{f.Key} {f.Value}"));

    /// <summary>Keeps the agents' and servers' logs of a run that went wrong beside the test binary (failsafe-logs.txt).</summary>
    private static void Dump(string what, DeciderKillTests.RedisGroup group, ServerCluster servers) =>
        File.AppendAllText(Path.Combine(AppContext.BaseDirectory, "failsafe-logs.txt"),
            $"===== {DateTimeOffset.UtcNow:u} {what}\n{group.Logs(400)}\n{servers.Logs(150)}\n");

    /// <summary>Prints a figure, and keeps it beside the test binary (failsafe-figures.txt): passing tests' output is not shown.</summary>
    private void Record(string line)
    {
        output.WriteLine(line);
        File.AppendAllText(Path.Combine(AppContext.BaseDirectory, "failsafe-figures.txt"), $"{DateTimeOffset.UtcNow:u} {line}\n");
    }
}
