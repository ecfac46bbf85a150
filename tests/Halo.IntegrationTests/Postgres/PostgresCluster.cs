using System.Diagnostics;
using Halo.Agent;
using Halo.Agent.Drills;
using Halo.Agent.Drivers;
using Halo.Client;
using Halo.Core.Failover;
using Halo.Gateway.Tcp;
using Halo.IntegrationTests.Failover;
using Halo.Server;
using Halo.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Halo.IntegrationTests.Postgres;

/// <summary>
/// A PostgreSQL 15 group as it runs for real: a control-plane server over an embedded store, members each a GroupAgent with a
/// managed postgres (the first created by initdb when the controller elects it, the others by pg_basebackup), and a TCP proxy
/// to the primary — all on 127.0.0.1, on the real clock. "Node death" kills a member's postmaster and stops its agent at once.
/// Agents run with the failsafe on, each with its promise endpoint, as `halo agent` does by default.
/// </summary>
public sealed class PostgresCluster : IAsyncDisposable
{
    public const string Group = "pg";
    public const string Bin = "/usr/lib/postgresql/15/bin";
    private readonly string _data;
    private bool _failsafe;
    private readonly List<Member> _members = [];
    private IStore _store = null!;
    private WebApplication _app = null!;

    private PostgresCluster(string data) => _data = data;

    public sealed class Member(ManagedPostgresOptions options)
    {
        public ManagedPostgresOptions Options { get; } = options;
        public ManagedPostgres Managed { get; set; } = null!;
        public PostgresDriver Driver { get; set; } = null!;
        public GroupAgent Agent { get; set; } = null!;
        public CancellationTokenSource Stop { get; set; } = null!;
        public Task Run { get; set; } = Task.CompletedTask;
        public FailsafeListener? Listener { get; set; }
        public string Name => Options.Member;
        public string Address => $"127.0.0.1:{Options.Port}";
    }

    public System.Collections.Concurrent.ConcurrentQueue<string> Log { get; } = new();
    public IReadOnlyList<Member> Members => _members;
    public GroupClient Client { get; private set; } = null!;
    public TcpProxyHost Proxy { get; private set; } = null!;
    public Uri Server { get; private set; } = null!;
    public string SecretsFile => Path.Combine(_data, "secrets");
    public string Superuser => PostgresSecrets.Load(SecretsFile).Superuser;

    /// <param name="failsafe">Agents run with the failsafe (docs/ha.md), `halo agent`'s default; false for the fencing-only behaviour.</param>
    public static async Task<PostgresCluster> StartAsync(GroupPolicy policy, int members = 3, bool failsafe = true)
    {
        var cluster = new PostgresCluster(HaloProcess.TempDirectory("pg")) { _failsafe = failsafe };
        cluster._store = await EmbeddedStore.OpenAsync(cluster._data, new EmbeddedStoreOptions { LeaseCheckInterval = TimeSpan.FromMilliseconds(50) }, TimeProvider.System);
        cluster._app = await HaloServerHost.BuildAsync(new ServerOptions { Listen = "http://127.0.0.1:0", DataDirectory = cluster._data, Security = new() { AllowAnonymous = true } }, cluster._store,
            logging: l => l.ClearProviders());
        await cluster._app.StartAsync();
        cluster.Server = HaloServerHost.Address(cluster._app);
        cluster.Client = new GroupClient(cluster.Server);
        await cluster.Client.PutAsync(Group, policy);
        for (var i = 0; i < members; i++)
        {
            var member = new Member(new ManagedPostgresOptions
            {
                BinDirectory = Bin, DataDirectory = Path.Combine(cluster._data, $"p{i + 1}"), Port = HaloProcess.FreePort(), Member = $"p{i + 1}",
                SecretsFile = cluster.SecretsFile,
            });
            cluster._members.Add(member);
            await cluster.StartAgentAsync(member);
        }

        cluster.Proxy = TcpProxyHost.Start(new TcpProxyOptions { Server = cluster.Server, Group = Group });
        var settled = await cluster.WaitSettledAsync(TimeSpan.FromSeconds(90));
        if (failsafe)
        {
            // Proof the failsafe is in play, not merely switched on: the decider stored the members the primary would ask.
            var primary = cluster[settled.Primary!];
            await Eventually.UntilAsync(() => primary.Agent.FailsafeArmed, TimeSpan.FromSeconds(30), $"{primary.Name}'s failsafe armed");
        }

        await PostgresWriteLoad.CreateTableAsync(cluster.ProxyConnection, default);
        return cluster;
    }

    /// <summary>Starts the member's agent (and its failsafe endpoint, which lives and dies with it, as in one `halo agent` process).</summary>
    public async Task StartAgentAsync(Member m)
    {
        var logger = new RecordingLogger(m.Name, Log);
        m.Managed = new ManagedPostgres(m.Options, TimeProvider.System, logger);
        var managed = m.Managed;
        m.Driver = new PostgresDriver("127.0.0.1", m.Options.Port, m.Name, () => managed.Secrets, TimeSpan.FromSeconds(1), logger, managed);
        GroupAgent? started = null;
        m.Listener = _failsafe
            ? await FailsafeListener.StartAsync(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0), r => started!.AnswerPromiseAsync(r), default)
            : null;
        m.Agent = started = new GroupAgent(new AgentOptions { Group = Group, Member = m.Name, Failsafe = _failsafe, FailsafeAddress = m.Listener?.Address },
            m.Driver, new GroupClient(Server), TimeProvider.System, logger, managed);
        m.Stop = new CancellationTokenSource();
        var agent = m.Agent;
        var stop = m.Stop;
        m.Run = Task.Run(() => agent.RunAsync(stop.Token));
    }

    public Member this[string name] => _members.Single(m => m.Name == name);

    /// <summary>kill -9 of the member's postmaster only (its agent lives on).</summary>
    public int KillPostmaster(Member m)
    {
        var pid = m.Managed.Pid ?? throw new InvalidOperationException($"{m.Name}: postgres is not running");
        using var p = Process.GetProcessById(pid);
        p.Kill();
        return pid;
    }

    /// <summary>Node death: the postmaster killed and the agent gone at the same instant (no graceful anything).</summary>
    public async Task KillNodeAsync(Member m)
    {
        KillPostmaster(m);
        await m.Stop.CancelAsync();
        await m.Run.WaitAsync(TimeSpan.FromSeconds(10));
        await StopListenerAsync(m);
    }

    private static async Task StopListenerAsync(Member m)
    {
        if (m.Listener is { } listener)
        {
            m.Listener = null;
            await listener.DisposeAsync();
        }
    }

    public string ProxyConnection => Connection(Proxy.LocalEndpoint.Port);

    public string Connection(int port) => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1", Port = port, Username = "postgres", Password = Superuser, Database = "postgres", Pooling = false, Timeout = 2, CancellationTimeout = -1,
    }.ConnectionString;

    public Task<GroupStatus> StatusAsync() => Client.GetAsync(Group);

    /// <summary>A confirmed primary, every member fresh and up, each replica streaming from it and nearly caught up.</summary>
    public Task<GroupStatus> WaitSettledAsync(TimeSpan timeout) => WaitAsync(s => s.PrimaryConfirmed && s.Members.Count == _members.Count &&
        s.Members.All(m => m.Fresh && m.DbUp && (m.Name == s.Primary ||
            (m.Role == MemberRole.Replica && m.Following == s.PrimaryAddress && m.Detail?.StartsWith("streaming", StringComparison.Ordinal) == true && m.Lag < 1 << 20))) &&
        (s.Policy.Synchronous == SynchronousMode.Off || s.Synchronous?.Members.Count == _members.Count - 1) &&
        Proxy?.Route.Epoch == s.Epoch, timeout, "a settled group");

    public async Task<GroupStatus> WaitAsync(Func<GroupStatus, bool> condition, TimeSpan timeout, string what)
    {
        var sw = Stopwatch.StartNew();
        var status = await StatusAsync();
        while (!condition(status))
        {
            if (sw.Elapsed > timeout)
            {
                throw new TimeoutException($"waited {timeout} for {what}; last status: epoch {status.Epoch}, primary {status.Primary}, confirmed {status.PrimaryConfirmed}, " +
                    $"blocked {status.Blocked}, pending {status.Pending}, last failover {status.LastFailover?.Cause} e{status.LastFailover?.Epoch}, " +
                    $"sync {status.Synchronous?.Epoch}:{string.Join("+", status.Synchronous?.Members ?? [])}; " +
                    string.Join("; ", status.Members.Select(m => $"{m.Name} {m.Role} e{m.Epoch} up={m.DbUp} fresh={m.Fresh} lsn={m.Offset} tli={m.Timeline} lag={m.Lag} following={m.Following} {m.Detail}")) +
                    "\nagents: " + string.Join("; ", _members.Select(AgentView)) + "\n" + string.Join("\n", Log.TakeLast(60)));
            }

            status = await Client.GetAsync(Group, status.Version, TimeSpan.FromMilliseconds(250));
        }

        return status;
    }

    /// <summary>What a member's agent itself believes (a failed wait shows why a primary did not confirm or a replica did not follow).</summary>
    private static string AgentView(Member m)
    {
        var (a, p) = (m.Agent.Assignment, m.Agent.LastProbe);
        return $"{m.Name} assigned {a?.Role} e{a?.Epoch} renewed={a?.LeaseRenewed} fence={a?.Fence} last renewal sent {m.Agent.LastRenewalSentAt:HH:mm:ss.fff}, " +
            $"watchdog fenced {m.Agent.WatchdogFencedAt:HH:mm:ss.fff}; probe up={p?.Up} {p?.Role} fenced={p?.Fenced} timedOut={p?.TimedOut}; " +
            $"managed running={m.Managed.Running} busy={m.Managed.Busy} {m.Managed.Activity} {m.Managed.LastError}";
    }

    /// <summary>Samples every member every 20 ms; records each sample in which more than one was a writable primary.</summary>
    public async Task<List<string>> SplitBrainSamplesAsync(CancellationToken ct)
    {
        var violations = new List<string>();
        while (!ct.IsCancellationRequested)
        {
            var sw = Stopwatch.StartNew();
            var writable = await Task.WhenAll(_members.Select(m => WritableAsync(m)));
            if (writable.Count(w => w) > 1)
            {
                violations.Add($"{DateTimeOffset.UtcNow:HH:mm:ss.fff} (sample took {sw.ElapsedMilliseconds} ms): " +
                    string.Join(", ", _members.Select((m, i) => $"{m.Name}={(writable[i] ? "writable" : "-")}")));
            }

            try
            {
                await Task.Delay(20, ct);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        return violations;
    }

    /// <summary>Would a new session on this member accept a write: a primary, not fenced.</summary>
    public async Task<bool> WritableAsync(Member m)
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
            await using var conn = new NpgsqlConnection(Connection(m.Options.Port));
            await conn.OpenAsync(cts.Token);
            await using var cmd = new NpgsqlCommand("SELECT NOT pg_is_in_recovery() AND current_setting('default_transaction_read_only') = 'off'", conn);
            return (bool)(await cmd.ExecuteScalarAsync(cts.Token))!;
        }
        catch (Exception ex) when (ex is NpgsqlException or OperationCanceledException or IOException or TimeoutException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Proxy.DisposeAsync();
        foreach (var m in _members)
        {
            await m.Stop.CancelAsync();
            try
            {
                await m.Run.WaitAsync(TimeSpan.FromSeconds(10));
            }
            catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
            {
            }

            await StopListenerAsync(m);
            await m.Driver.DisposeAsync();
            await m.Managed.DisposeAsync();
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
