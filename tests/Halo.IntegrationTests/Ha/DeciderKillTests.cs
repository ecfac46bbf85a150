// Every wait in these tests has its own bound.
#pragma warning disable xUnit1051

using System.Diagnostics;
using Halo.Agent;
using Halo.Agent.Drills;
using Halo.Agent.Drivers;
using Halo.Client;
using Halo.Core.Failover;
using Halo.Gateway.Tcp;
using Halo.IntegrationTests.Failover;

namespace Halo.IntegrationTests.Ha;

/// <summary>
/// One decider per group (docs/ha.md): a Redis group of three real Redis servers and their agents, writes through the TCP
/// proxy, three real `halo server`s over a real three-member etcd; then kill -9 of the server that decides the group.
/// </summary>
[Collection("redis-failover")]
public sealed class DeciderKillTests(ITestOutputHelper output)
{
    private const string Group = "cache";
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    /// <summary>How long after the decider's kill a refused write counts as caused by it: removal, handoff grace, one lease TTL.</summary>
    private static readonly TimeSpan HandoffWindow = TimeSpan.FromSeconds(6);

    [Fact]
    public async Task KillTheDecider_UnderWritesThroughTheProxy_NoFailoverNothingLost()
    {
        await using var etcd = await EtcdCluster.StartAsync();
        await using var servers = await ServerCluster.StartAsync(etcd);
        await using var group = await RedisGroup.StartAsync(servers, output);
        var before = await group.StatusAsync();
        var load = new RedisWriteLoad(_ => Task.FromResult(("127.0.0.1", group.Proxy.LocalEndpoint.Port)), 0, "decider:");
        using var stop = new CancellationTokenSource();
        var running = load.RunAsync(stop.Token);
        await Eventually.UntilAsync(() => Task.FromResult(load.Acked > 200), Bound, "writes before the kill");

        var primary = group.Agents[int.Parse(before.Primary!.AsSpan(1)) - 1];
        using var sampling = new CancellationTokenSource();
        var killedAt = Stopwatch.GetTimestamp();
        var timeline = KillTimeline.SampleAsync(load, primary, killedAt, sampling.Token);
        servers.Kill(group.Decider);
        var failedBefore = load.Failed;
        // The control plane's own failover: the dead decider's removal (about 1 s), the new decider's grace (2 s), its first
        // renewals. Writes refused in it are caused by the kill; later ones by whatever else the machine does.
        var failedInHandoff = Task.Run(async () =>
        {
            await Task.Delay(HandoffWindow);
            return load.Failed;
        });
        output.WriteLine($"killed the decider, server {group.Decider}; primary {before.Primary} epoch {before.Epoch}");
        var survivor = (group.Decider + 1) % servers.Count;
        await Eventually.UntilAsync(async () => await RedisGroup.TryDeciderAsync(servers, survivor) is { } d && d != group.Decider, Bound, "another server to decide the group");
        var handoff = Stopwatch.GetElapsedTime(killedAt);
        // Membership TTL (5 s) + handoff grace (2 s) + margin: long enough that a failover caused by the handoff would show.
        await Task.Delay(TimeSpan.FromSeconds(12) - handoff is { Ticks: > 0 } rest ? rest : TimeSpan.Zero);
        var decider = await RedisGroup.WaitDeciderAsync(servers, survivor);
        await Eventually.UntilAsync(async () => (await group.TryStatusAsync())?.PrimaryConfirmed == true, Bound, "a confirmed primary at the new decider");
        var acked = load.Acked;
        await Eventually.UntilAsync(() => Task.FromResult(load.Acked > acked + 100), Bound, "writes after the handoff");
        await stop.CancelAsync();
        await running;

        await sampling.CancelAsync();
        var seen = await timeline;
        var after = await group.StatusAsync();
        Record($"writes acked {load.Acked}, failed {load.Failed}; new decider server {decider} listed {handoff.TotalSeconds:0.00} s after the kill; after: epoch {after.Epoch} primary {after.Primary}; {seen}");
        if (load.Failed > failedBefore)
        {
            // A refused write under load is the finding to explain: keep the agents' and servers' logs beside the figures.
            KeepLogs("decider", $"{seen}\n--- agents:\n{group.Logs(400)}\n{servers.Logs(400)}");
        }

        // Issue 9: no write refused because of the kill, asserted for the handoff window (0 in every run at load 11-40 on
        // 2026-11-29, docs/ha.md; not yet at load 50+). Refusals after it are recorded: a starved machine can still stop the
        // agents' renewals (11:11 UTC that day, 7 s after the kill). And every time: no failover, nothing lost.
        output.WriteLine($"refused writes: {load.Failed - failedBefore} after the kill, {failedBefore} before it");
        Assert.True(await failedInHandoff == failedBefore,
            $"{await failedInHandoff - failedBefore} writes refused in the {HandoffWindow.TotalSeconds:0} s after the kill; {seen}");
        Assert.NotEqual(group.Decider, decider);
        Assert.Equal(before.Epoch, after.Epoch);
        Assert.Equal(before.Primary, after.Primary);
        Assert.Equal(0, await load.CountLostAsync(default));
    }

    [Fact]
    public async Task KillThePrimaryAndItsDecider_ExactlyOneNewPrimary_NoAcknowledgedWriteLost()
    {
        await using var etcd = await EtcdCluster.StartAsync();
        await using var servers = await ServerCluster.StartAsync(etcd);
        await using var group = await RedisGroup.StartAsync(servers, output);
        var before = await group.StatusAsync();
        var load = new RedisWriteLoad(_ => Task.FromResult(("127.0.0.1", group.Proxy.LocalEndpoint.Port)), 1, "both:");
        using var stop = new CancellationTokenSource();
        var running = load.RunAsync(stop.Token);
        var samples = FailoverCluster.SplitBrainSamplesAsync(group.Redis, stop.Token);
        await Eventually.UntilAsync(() => Task.FromResult(load.Acked > 200), Bound, "writes before the kill");

        var old = int.Parse(before.Primary!.AsSpan(1)) - 1;
        var killedAt = Stopwatch.GetTimestamp();
        group.Redis[old].Kill9();
        servers.Kill(group.Decider);
        output.WriteLine($"killed primary {before.Primary} and its decider, server {group.Decider}");

        try
        {
            await Eventually.UntilAsync(async () => await group.TryStatusAsync() is { PrimaryConfirmed: true } s && s.Epoch > before.Epoch, Bound, "a new confirmed primary");
        }
        catch (TimeoutException ex)
        {
            var status = await group.TryStatusAsync();
            throw new TimeoutException($"{ex.Message}; status: epoch {status?.Epoch} primary {status?.Primary} confirmed {status?.PrimaryConfirmed} " +
                $"round {status?.Round?.Id} blocked '{status?.Blocked}'\n{group.Logs()}\n{servers.Logs()}", ex);
        }

        var recovered = await load.WaitRecoveryAsync(killedAt, Bound, CancellationToken.None) ?? throw new TimeoutException("no acknowledged write after the kill");
        var acked = load.Acked;
        await Eventually.UntilAsync(() => Task.FromResult(load.Acked > acked + 100), Bound, "writes on the new primary");
        await stop.CancelAsync();
        await running;
        var violations = await samples;

        var after = await group.StatusAsync();
        var writable = new List<string>();
        for (var i = 0; i < group.Redis.Count; i++)
        {
            if (i != old && await group.Redis[i].RoleAsync() is { Writable: true })
            {
                writable.Add(RedisGroup.Name(i));
            }
        }

        Record($"new primary {after.Primary} epoch {after.Epoch} after {recovered.TotalSeconds:0.00} s; acked {load.Acked}");
        Assert.Empty(violations);
        Assert.Equal([after.Primary!], writable);
        Assert.NotEqual(before.Primary, after.Primary);
        Assert.Equal(0, await load.CountLostAsync(default));
    }

    /// <summary>
    /// Issue 9.5 with the failsafe off (its own test with it on: FailsafeTests): every server killed for 10 s under writes through the proxy. The
    /// primary fences at its renew deadline, so writes are refused until the servers return; what must hold is that there is
    /// never a second writable primary, that afterwards exactly one primary takes writes, and that nothing acknowledged is
    /// lost. Whether the returning servers kept the primary (restored its lapsed lease in its epoch) or failed over is
    /// recorded, not asserted: under stress-ng it failed over in some runs (docs/ha.md). The refused-write window is printed too.
    /// </summary>
    [Fact]
    public async Task KillEveryServerForTenSeconds_UnderWrites_NoSplitNoLossWritesResume()
    {
        await using var etcd = await EtcdCluster.StartAsync();
        await using var servers = await ServerCluster.StartAsync(etcd);
        await using var group = await RedisGroup.StartAsync(servers, output, failsafe: false);
        var before = await group.StatusAsync();
        var load = new RedisWriteLoad(_ => Task.FromResult(("127.0.0.1", group.Proxy.LocalEndpoint.Port)), 1, "all:");
        using var stop = new CancellationTokenSource();
        var running = load.RunAsync(stop.Token);
        var samples = FailoverCluster.SplitBrainSamplesAsync(group.Redis, stop.Token);
        await Eventually.UntilAsync(() => Task.FromResult(load.Acked > 200), Bound, "writes before the kill");

        var killedAt = Stopwatch.GetTimestamp();
        for (var i = 0; i < servers.Count; i++)
        {
            servers.Kill(i);
        }

        await Task.Delay(TimeSpan.FromSeconds(10));
        var ackedWhileDown = load.Acked;
        var failedWhileDown = load.Failed;
        var returnedAt = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, servers.Count).Select(servers.RestartAsync));
        await Eventually.UntilAsync(async () => await group.TryStatusAsync() is { PrimaryConfirmed: true }, Bound, "a confirmed primary after the servers returned");
        var recovered = await load.WaitRecoveryAsync(returnedAt, Bound, CancellationToken.None) ?? throw new TimeoutException("no acknowledged write after the servers returned");
        var acked = load.Acked;
        await Eventually.UntilAsync(() => Task.FromResult(load.Acked > acked + 100), Bound, "writes after the servers returned");
        await stop.CancelAsync();
        await running;
        var violations = await samples;

        var after = await group.StatusAsync();
        Record($"servers down 10 s: writes failed {failedWhileDown} while down; first acknowledged write {recovered.TotalSeconds:0.00} s after the servers " +
            $"were restarted ({Stopwatch.GetElapsedTime(killedAt, returnedAt).TotalSeconds:0.0} s after the kill); epoch {before.Epoch} -> {after.Epoch}, " +
            $"primary {before.Primary} -> {after.Primary}; acked {load.Acked} (during the outage {ackedWhileDown})");
        Assert.Empty(violations);
        Assert.Equal(0, await load.CountLostAsync(default));
    }

    /// <summary>Writes <paramref name="text"/> to <c>NAME-logs-TIME.txt</c> beside the test binary, and says where.</summary>
    private void KeepLogs(string name, string text)
    {
        var file = Path.Combine(AppContext.BaseDirectory, $"{name}-logs-{DateTimeOffset.UtcNow:yyyyMMdd-HHmmss}.txt");
        File.WriteAllText(file, text);
        output.WriteLine($"logs kept in {file}");
    }

    /// <summary>Prints a figure, and keeps it beside the test binary (decider-figures.txt): passing tests' output is not shown.</summary>
    private void Record(string line)
    {
        output.WriteLine(line);
        File.AppendAllText(Path.Combine(AppContext.BaseDirectory, "decider-figures.txt"), $"{DateTimeOffset.UtcNow:u} {line}\n");
    }

    /// <summary>Three Redis servers with in-process agents and a TCP proxy, all taking the three servers, the decider's first.</summary>
    internal sealed class RedisGroup : IAsyncDisposable
    {
        private readonly List<(CancellationTokenSource Stop, Task Run)> _agents = [];
        private readonly List<FailsafeListener> _listeners = [];
        private readonly System.Collections.Concurrent.ConcurrentQueue<string> _log = new();

        public List<RedisProcess> Redis { get; } = [];
        public List<GroupAgent> Agents { get; } = [];
        public TcpProxyHost Proxy { get; private set; } = null!;
        public GroupClient Client { get; private set; } = null!;
        public int Decider { get; private set; }

        public static string Name(int i) => $"r{i + 1}";

        public static async Task<int> DeciderAsync(ServerCluster servers, int ask)
        {
            var members = (await servers.GetJsonAsync(ask, "v1/cluster")).GetProperty("members").EnumerateArray().ToList();
            var url = members.Single(m => m.GetProperty("groups").EnumerateArray().Any(g => g.GetString() == Group)).GetProperty("url").GetString();
            // A member advertises its URL with or without the trailing slash.
            return Enumerable.Range(0, servers.Count).Single(i => servers.Url(i).ToString().TrimEnd('/') == url?.TrimEnd('/'));
        }

        /// <summary>The decider as server <paramref name="ask"/> sees it now, or null while it lists none or several.</summary>
        public static async Task<int?> TryDeciderAsync(ServerCluster servers, int ask)
        {
            try
            {
                return await DeciderAsync(servers, ask);
            }
            catch (InvalidOperationException)
            {
                return null;
            }
        }

        /// <summary>The decider as server <paramref name="ask"/> sees it, once it lists exactly one (views settle after a membership change).</summary>
        public static async Task<int> WaitDeciderAsync(ServerCluster servers, int ask)
        {
            var decider = -1;
            try
            {
                await Eventually.UntilAsync(async () =>
                {
                    try
                    {
                        decider = await DeciderAsync(servers, ask);
                        return true;
                    }
                    catch (InvalidOperationException)
                    {
                        return false;
                    }
                }, Bound, "a decider for the group");
            }
            catch (TimeoutException ex)
            {
                throw new TimeoutException($"{ex.Message}; /v1/cluster on server {ask}: {await servers.GetJsonAsync(ask, "v1/cluster")}\n{servers.Logs()}", ex);
            }

            return decider;
        }

        /// <param name="failsafe">Agents run with the failsafe on (docs/ha.md), each with its promise endpoint on 127.0.0.1; by default
        /// as `halo agent` ships it (<see cref="Halo.Cli.Commands.AgentCommand.FailsafeDefault"/>).</param>
        /// <param name="partitioned">Test hook per member: while it returns true that agent reaches no server.</param>
        public static async Task<RedisGroup> StartAsync(ServerCluster servers, ITestOutputHelper output, bool? failsafe = null, Func<int, bool>? partitioned = null)
        {
            var on = failsafe ?? Halo.Cli.Commands.AgentCommand.FailsafeSwitch(Halo.Cli.Commands.AgentCommand.FailsafeDefault);
            var g = new RedisGroup();
            try
            {
                await Eventually.UntilAsync(async () => (await servers.GetJsonAsync(0, "v1/cluster")).GetProperty("members").GetArrayLength() == 3, Bound, "three members");
                g.Client = new GroupClient(Options(servers, Enumerable.Range(0, servers.Count)));
                await g.Client.PutAsync(Group, new GroupPolicy { AntiFlapWindow = TimeSpan.Zero });
                g.Decider = await WaitDeciderAsync(servers, 0);
                output.WriteLine($"group {Group} decided by server {g.Decider}");
                // Every client talks to the decider first, so its death forces each to move to another server.
                var order = Enumerable.Range(0, servers.Count).Select(i => (g.Decider + i) % servers.Count).ToList();
                for (var i = 0; i < 3; i++)
                {
                    g.Redis.Add(await RedisProcess.StartAsync());
                    var driver = new RedisDriver("127.0.0.1", g.Redis[i].Port, TimeSpan.FromMilliseconds(250));
                    GroupAgent? started = null;
                    var listener = on
                        ? await FailsafeListener.StartAsync(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0), r => started!.AnswerPromiseAsync(r), default)
                        : null;
                    if (listener is not null)
                    {
                        g._listeners.Add(listener);
                    }

                    var agent = started = new GroupAgent(
                        new AgentOptions { Group = Group, Member = Name(i), Failsafe = on, FailsafeAddress = listener?.Address }, driver,
                        TracedClient(GroupAgent.ClientOptions(Options(servers, order)), Name(i), g._log), TimeProvider.System, new RecordingLogger(Name(i), g._log));
                    var index = i;
                    if (partitioned is not null)
                    {
                        agent.Partitioned = () => partitioned(index);
                    }

                    g.Agents.Add(agent);
                    var stop = new CancellationTokenSource();
                    g._agents.Add((stop, Task.Run(() => agent.RunAsync(stop.Token))));
                }

                // The proxy's route changes and closed connections go to the same log as the agents': a refused write may be its doing.
                g.Proxy = TcpProxyHost.Start(new TcpProxyOptions { Client = Options(servers, order), Group = Group }, logger: new RecordingLogger("proxy", g._log));
                await Eventually.UntilAsync(async () => await g.StatusAsync() is { PrimaryConfirmed: true } s &&
                    s.Members.Count(m => m.Role == MemberRole.Replica && m.Healthy && m.Fresh) == 2, Bound, "a confirmed primary and healthy replicas");
                await Eventually.UntilAsync(() => Task.FromResult(g.Proxy.Route.Confirmed), Bound, "the proxy to route");
                return g;
            }
            catch
            {
                await g.DisposeAsync();
                throw;
            }
        }

        /// <summary>An agent's client whose failed and slow (over 150 ms) report copies are logged with their server and timing.</summary>
        private static GroupClient TracedClient(HaloClientOptions options, string member, System.Collections.Concurrent.ConcurrentQueue<string> log)
        {
            var failover = Halo.Client.HaloHttp.CreateHandler(options);
            failover.InnerHandler = new ReportTrace(Halo.Client.HaloHttp.CreateTransport(options), member, log);
            return new GroupClient(new HttpClient(failover) { BaseAddress = options.Servers[0], Timeout = options.RequestTimeout });
        }

        private static HaloClientOptions Options(ServerCluster servers, IEnumerable<int> order) =>
            new() { Servers = order.Select(servers.Url).ToList(), Token = servers.Token };

        public Task<GroupStatus> StatusAsync() => Client.GetAsync(Group);

        /// <summary>The status, or null while no server can answer for the group (its dead decider has not left the membership yet: 503).</summary>
        public async Task<GroupStatus?> TryStatusAsync()
        {
            try
            {
                return await Client.GetAsync(Group);
            }
            catch (Exception ex) when (ex is HttpRequestException or HaloApiException)
            {
                return null;
            }
        }

        public string Logs(int lines = 60) => string.Join('\n', _log.TakeLast(lines));

        public async ValueTask DisposeAsync()
        {
            if (Proxy is not null)
            {
                await Proxy.DisposeAsync();
            }

            foreach (var (stop, run) in _agents)
            {
                await stop.CancelAsync();
                try
                {
                    await run.WaitAsync(TimeSpan.FromSeconds(5));
                }
                catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
                {
                }
            }

            foreach (var listener in _listeners)
            {
                await listener.DisposeAsync();
            }

            Client?.Dispose();
            foreach (var r in Redis)
            {
                await r.DisposeAsync();
            }
        }
    }

    /// <summary>Logs each report copy that failed or took over 150 ms: which server, when sent, how long, what came back.</summary>
    private sealed class ReportTrace(HttpMessageHandler inner, string member, System.Collections.Concurrent.ConcurrentQueue<string> log) : DelegatingHandler(inner)
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.RequestUri?.AbsolutePath.EndsWith("/report", StringComparison.Ordinal) != true)
            {
                return await base.SendAsync(request, cancellationToken);
            }

            var sent = DateTimeOffset.UtcNow;
            var started = Stopwatch.GetTimestamp();
            try
            {
                var response = await base.SendAsync(request, cancellationToken);
                var took = Stopwatch.GetElapsedTime(started);
                if (took > TimeSpan.FromMilliseconds(150) || !response.IsSuccessStatusCode)
                {
                    log.Enqueue($"{sent:HH:mm:ss.fff} {member} report to :{request.RequestUri.Port} answered {(int)response.StatusCode} after {took.TotalMilliseconds:0} ms");
                }

                return response;
            }
            catch (Exception ex)
            {
                log.Enqueue($"{sent:HH:mm:ss.fff} {member} report to :{request.RequestUri.Port} failed after {Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms: {ex.GetType().Name} {ex.Message}");
                throw;
            }
        }
    }
}
