using System.Diagnostics;
using Halo.Agent;
using Halo.Agent.Drivers;
using Halo.Client;
using Halo.Core.Failover;
using Halo.Gateway.Tcp;
using Halo.Server;
using Halo.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Halo.IntegrationTests.Failover;

/// <summary>
/// One primary and two replicas as real redis-server processes, an agent beside each, a control-plane server over an embedded
/// store and a TCP proxy for the primary — all on 127.0.0.1, on the real clock.
/// </summary>
public sealed class FailoverCluster : IAsyncDisposable
{
    private readonly List<(GroupAgent Agent, RedisDriver Driver, CancellationTokenSource Stop, Task Run)> _agents = [];
    private readonly string _data;
    private IStore _store = null!;
    private WebApplication _app = null!;

    private FailoverCluster(string data) => _data = data;

    public const string Group = "cache";
    public System.Collections.Concurrent.ConcurrentQueue<string> Log { get; } = new();
    public List<RedisProcess> Redis { get; } = [];
    public GroupClient Client { get; private set; } = null!;
    public TcpProxyHost Proxy { get; private set; } = null!;
    public Uri Server { get; private set; } = null!;
    public IReadOnlyList<GroupAgent> Agents => _agents.Select(a => a.Agent).ToList();

    public static async Task<FailoverCluster> StartAsync(GroupPolicy? policy = null, int members = 3)
    {
        var cluster = new FailoverCluster(HaloProcess.TempDirectory("failover"));
        cluster._store = await EmbeddedStore.OpenAsync(cluster._data, new EmbeddedStoreOptions { LeaseCheckInterval = TimeSpan.FromMilliseconds(50) }, TimeProvider.System);
        cluster._app = await HaloServerHost.BuildAsync(new ServerOptions { Listen = "http://127.0.0.1:0", DataDirectory = cluster._data, Security = new() { AllowAnonymous = true } }, cluster._store,
            logging: l => l.ClearProviders());
        await cluster._app.StartAsync();
        cluster.Server = HaloServerHost.Address(cluster._app);
        cluster.Client = new GroupClient(cluster.Server);
        await cluster.Client.PutAsync(Group, policy ?? new GroupPolicy { AntiFlapWindow = TimeSpan.Zero });
        for (var i = 0; i < members; i++)
        {
            cluster.Redis.Add(await RedisProcess.StartAsync());
        }

        for (var i = 0; i < members; i++)
        {
            cluster.StartAgent(i);
        }

        cluster.Proxy = TcpProxyHost.Start(new TcpProxyOptions { Server = cluster.Server, Group = Group });
        await cluster.WaitAsync(s => s.PrimaryConfirmed && s.Members.Count(m => m.Role == MemberRole.Replica && m.Healthy && m.Fresh) == members - 1,
            TimeSpan.FromSeconds(20), "a confirmed primary and healthy replicas");
        await Eventually.UntilAsync(() => cluster.Proxy.Route.Confirmed, TimeSpan.FromSeconds(5), "the proxy to route");
        return cluster;
    }

    public static string Name(int i) => $"r{i + 1}";

    private void StartAgent(int i)
    {
        var driver = new RedisDriver("127.0.0.1", Redis[i].Port, TimeSpan.FromMilliseconds(250));
        var agent = new GroupAgent(new AgentOptions { Group = Group, Member = Name(i) }, driver, new GroupClient(Server), TimeProvider.System,
            new RecordingLogger(Name(i), Log));
        var stop = new CancellationTokenSource();
        _agents.Add((agent, driver, stop, Task.Run(() => agent.RunAsync(stop.Token))));
    }

    public Task<GroupStatus> StatusAsync() => Client.GetAsync(Group);

    public int IndexOf(string member) => int.Parse(member.AsSpan(1)) - 1;

    public async Task<GroupStatus> WaitAsync(Func<GroupStatus, bool> condition, TimeSpan timeout, string what)
    {
        var sw = Stopwatch.StartNew();
        var status = await StatusAsync();
        while (!condition(status))
        {
            if (sw.Elapsed > timeout)
            {
                throw new TimeoutException($"waited {timeout} for {what}; last status: epoch {status.Epoch}, primary {status.Primary}, confirmed {status.PrimaryConfirmed}, " +
                    string.Join(", ", status.Members.Select(m => $"{m.Name} {m.Role} e{m.Epoch} up={m.DbUp} healthy={m.Healthy} fresh={m.Fresh} off={m.Offset}")));
            }

            status = await Client.GetAsync(Group, status.Version, TimeSpan.FromMilliseconds(200));
        }

        return status;
    }

    /// <summary>
    /// Samples every member's role every few milliseconds and records each sample in which more than one member was a
    /// writable primary, with how long the sample took (a sample is only as precise as its duration).
    /// </summary>
    public Task<List<string>> SplitBrainSamplesAsync(CancellationToken ct) => SplitBrainSamplesAsync(Redis, ct);

    /// <summary>The same sampling over any Redis members (named r1, r2, ... by position).</summary>
    public static async Task<List<string>> SplitBrainSamplesAsync(IReadOnlyList<RedisProcess> redis, CancellationToken ct)
    {
        var violations = new List<string>();
        while (!ct.IsCancellationRequested)
        {
            var sw = Stopwatch.StartNew();
            var roles = await Task.WhenAll(redis.Select(r => r.RoleAsync()));
            if (roles.Count(r => r is { Writable: true }) > 1)
            {
                violations.Add($"{DateTimeOffset.UtcNow:HH:mm:ss.fff} sample took {sw.ElapsedMilliseconds} ms: " +
                    string.Join(", ", roles.Select((r, i) => $"{Name(i)}={r?.Role ?? "down"}{(r is { Writable: true } ? " writable" : "")}")));
            }

            try
            {
                await Task.Delay(10, ct);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        return violations;
    }

    public async ValueTask DisposeAsync()
    {
        await Proxy.DisposeAsync();
        foreach (var a in _agents)
        {
            await a.Stop.CancelAsync();
            try
            {
                await a.Run.WaitAsync(TimeSpan.FromSeconds(5));
            }
            catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
            {
            }

            Assert.False(a.Run.IsFaulted, $"agent loop faulted: {a.Run.Exception}");
            await a.Driver.DisposeAsync();
        }

        foreach (var r in Redis)
        {
            await r.DisposeAsync();
        }

        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        await _store.DisposeAsync();
        try
        {
            Directory.Delete(_data, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
