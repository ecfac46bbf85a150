using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Halo.Bench.Shared;
using Halo.Client;
using Halo.Core.Failover;

namespace PgFailoverBench;

/// <summary>One HA system under test, over three PostgreSQL 15 servers on 127.0.0.1.</summary>
internal abstract class SystemUnderTest(BenchProcesses procs, string work)
{
    protected BenchProcesses P { get; } = procs;
    protected string Work { get; } = work;
    public int[] PgPorts { get; } = [BenchProcesses.FreePort(), BenchProcesses.FreePort(), BenchProcesses.FreePort()];
    public abstract string Name { get; }
    public abstract Task StartAsync();
    /// <summary>The client's connection string (its own client path).</summary>
    public abstract string Connection { get; }
    /// <summary>All three members up, one primary, both standbys streaming from it.</summary>
    public abstract Task<bool> SettledAsync();
    /// <summary>Index of the current primary.</summary>
    public abstract Task<int> PrimaryAsync();
    /// <summary>Node death: the system's agent and the postmaster of member i, killed at once.</summary>
    public abstract void KillNode(int i);
    public abstract void RestartNode(int i);
    public abstract Task<bool> StreamingAsync(int i);

    /// <summary>
    /// Member i is back after a postmaster-only crash (the harness also requires a new postmaster): by default, streaming from the
    /// new primary — the end condition for a system that fails over on such a crash.
    /// </summary>
    public virtual Task<bool> BackAfterPostmasterCrashAsync(int i) => StreamingAsync(i);

    public int PostmasterPid(int i) => int.Parse(File.ReadLines(Path.Combine(DataDir(i), "postmaster.pid")).First(), CultureInfo.InvariantCulture);
    public string DataDir(int i) => Path.Combine(Work, $"n{i + 1}");

    public void KillPostmaster(int i) => BenchProcesses.Kill9(PostmasterPid(i));

    protected string MultiHost(string user, string password) =>
        $"Host={string.Join(',', PgPorts.Select(p => $"127.0.0.1:{p}"))};Username={user};Password={password};Database=postgres;Target Session Attributes=read-write;" +
        "Host Recheck Seconds=1;Timeout=2;Cancellation Timeout=-1;Pooling=false";
}

internal sealed class HaloSystem(BenchProcesses procs, string work, string haloDll) : SystemUnderTest(procs, work)
{
    private readonly int _server = BenchProcesses.FreePort();
    private readonly int _proxy = BenchProcesses.FreePort();
    private readonly Process?[] _agents = new Process?[3];
    private GroupClient _client = null!;
    public override string Name => "halo";
    private string Secrets => Path.Combine(Work, "secrets");
    public override string Connection => $"Host=127.0.0.1;Port={_proxy};Username=postgres;Password={Halo.Agent.Drivers.PostgresSecrets.Load(Secrets).Superuser};Database=postgres;Timeout=2;Cancellation Timeout=-1;Pooling=false";

    public override async Task StartAsync()
    {
        var server = $"http://127.0.0.1:{_server}/";
        P.Start("dotnet", haloDll, "server", "--listen", $"127.0.0.1:{_server}", "--data", Path.Combine(Work, "server"));
        // Auth is on: every halo child and this client use the server's bootstrap token.
        var tokenFile = Path.Combine(Work, "server", "bootstrap.token");
        Environment.SetEnvironmentVariable("HALO_TOKEN_FILE", tokenFile);
        await BenchProcesses.WaitAsync(() => Task.FromResult(File.Exists(tokenFile)), TimeSpan.FromSeconds(60), "the bootstrap token");
        _client = new GroupClient(new HaloClientOptions { Servers = [new Uri(server)], Token = (await File.ReadAllTextAsync(tokenFile)).Trim() });
        await BenchProcesses.WaitAsync(async () => await _client.ListAsync() is not null, TimeSpan.FromSeconds(60), "halo server");
        await _client.PutAsync("pg", new GroupPolicy { AntiFlapWindow = TimeSpan.Zero, Synchronous = SynchronousMode.Strict });
        for (var i = 0; i < 3; i++)
        {
            RestartNode(i);
        }

        P.Start("dotnet", haloDll, "tcp-proxy", "--server", server, "--group", "pg", "--listen", $"127.0.0.1:{_proxy}");
    }

    public override void RestartNode(int i) => _agents[i] = P.Start("dotnet", haloDll, "agent", "--server", $"http://127.0.0.1:{_server}/", "--group", "pg",
        "--member", $"n{i + 1}", "--driver", "postgres", "--postgres-data", DataDir(i), "--postgres-port", PgPorts[i].ToString(CultureInfo.InvariantCulture),
        "--postgres-secrets", Secrets);

    public override void KillNode(int i)
    {
        var postmaster = PostmasterPid(i);
        BenchProcesses.Kill9(_agents[i]!.Id);
        BenchProcesses.Kill9(postmaster);
    }

    public override async Task<bool> SettledAsync()
    {
        var s = await _client.GetAsync("pg");
        return s.PrimaryConfirmed && s.Members.Count == 3 && s.Synchronous?.Members.Count == 2 && s.Members.All(m => m.Fresh && m.DbUp &&
            (m.Name == s.Primary || (m.Following == s.PrimaryAddress && m.Detail?.StartsWith("streaming", StringComparison.Ordinal) == true && m.Lag < 1 << 20)));
    }

    public override async Task<int> PrimaryAsync() => int.Parse((await _client.GetAsync("pg")).Primary![1..], CultureInfo.InvariantCulture) - 1;

    public override async Task<bool> StreamingAsync(int i) =>
        (await _client.GetAsync("pg")).Members.Single(m => m.Name == $"n{i + 1}").Detail?.StartsWith("streaming", StringComparison.Ordinal) == true;
}

internal sealed class PatroniSystem(BenchProcesses procs, string work) : SystemUnderTest(procs, work)
{
    private readonly int[] _rest = [BenchProcesses.FreePort(), BenchProcesses.FreePort(), BenchProcesses.FreePort()];
    private readonly int _etcd = BenchProcesses.FreePort();
    private readonly int _etcdPeer = BenchProcesses.FreePort();
    private readonly Process?[] _patroni = new Process?[3];
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(2) };
    public override string Name => "patroni";
    public override string Connection => MultiHost("postgres", "su");

    public override async Task StartAsync()
    {
        P.Start("/usr/bin/etcd", "--name", "bench", "--data-dir", Path.Combine(Work, "etcd"), "--listen-client-urls", $"http://127.0.0.1:{_etcd}",
            "--advertise-client-urls", $"http://127.0.0.1:{_etcd}", "--listen-peer-urls", $"http://127.0.0.1:{_etcdPeer}",
            "--initial-advertise-peer-urls", $"http://127.0.0.1:{_etcdPeer}", "--initial-cluster", $"bench=http://127.0.0.1:{_etcdPeer}");
        await BenchProcesses.WaitAsync(async () => (await _http.GetAsync($"http://127.0.0.1:{_etcd}/health")).IsSuccessStatusCode, TimeSpan.FromSeconds(30), "etcd");
        await BenchProcesses.RunAsync("/usr/bin/chown", "postgres:postgres", Work);
        for (var i = 0; i < 3; i++)
        {
            await File.WriteAllTextAsync(Path.Combine(Work, $"n{i + 1}.yml"), $$"""
                scope: bench
                name: n{{i + 1}}
                restapi: { listen: 127.0.0.1:{{_rest[i]}}, connect_address: 127.0.0.1:{{_rest[i]}} }
                etcd3: { hosts: 127.0.0.1:{{_etcd}} }
                bootstrap:
                  dcs:
                    ttl: {{Environment.GetEnvironmentVariable("PATRONI_TTL") ?? "10"}}
                    loop_wait: {{Environment.GetEnvironmentVariable("PATRONI_LOOP_WAIT") ?? "2"}}
                    retry_timeout: {{Environment.GetEnvironmentVariable("PATRONI_RETRY_TIMEOUT") ?? "4"}}
                    maximum_lag_on_failover: 1048576
                    primary_start_timeout: 0
                    synchronous_mode: true
                    postgresql:
                      use_pg_rewind: true
                      parameters: { wal_log_hints: 'on', wal_keep_size: 256MB, wal_sender_timeout: 5s, wal_receiver_timeout: 5s }
                  initdb: [ { encoding: UTF8 } ]
                  pg_hba: [ "host replication replicator 127.0.0.1/32 md5", "host all all 127.0.0.1/32 md5" ]
                postgresql:
                  listen: 127.0.0.1:{{PgPorts[i]}}
                  connect_address: 127.0.0.1:{{PgPorts[i]}}
                  data_dir: {{DataDir(i)}}
                  bin_dir: /usr/lib/postgresql/15/bin
                  pgpass: {{Work}}/pgpass-{{i}}
                  authentication:
                    replication: { username: replicator, password: rep }
                    superuser: { username: postgres, password: su }
                  parameters: { unix_socket_directories: '{{Work}}' }
                """);
        }

        for (var i = 0; i < 3; i++)
        {
            RestartNode(i);
            if (i == 0)
            {
                await BenchProcesses.WaitAsync(async () => (await _http.GetAsync($"http://127.0.0.1:{_rest[0]}/primary")).IsSuccessStatusCode, TimeSpan.FromSeconds(90), "patroni bootstrap");
            }
        }
    }

    public override void RestartNode(int i) =>
        _patroni[i] = P.Start("/usr/bin/setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--", "/usr/bin/patroni", Path.Combine(Work, $"n{i + 1}.yml"));

    public override void KillNode(int i)
    {
        var postmaster = PostmasterPid(i);
        BenchProcesses.Kill9(_patroni[i]!.Id);
        BenchProcesses.Kill9(postmaster);
    }

    private async Task<JsonElement[]> MembersAsync()
    {
        foreach (var port in _rest)
        {
            try
            {
                var cluster = await _http.GetFromJsonAsync<JsonElement>($"http://127.0.0.1:{port}/cluster");
                return cluster.GetProperty("members").EnumerateArray().ToArray();
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
            }
        }

        return [];
    }

    public override async Task<bool> SettledAsync()
    {
        var members = await MembersAsync();
        return members.Length == 3 && members.Count(m => m.GetProperty("role").GetString() == "leader") == 1 &&
               members.Any(m => m.GetProperty("role").GetString() == "sync_standby") &&
               members.All(m => m.GetProperty("state").GetString() is "running" or "streaming" &&
                                (m.GetProperty("role").GetString() == "leader" || (m.TryGetProperty("lag", out var lag) && lag.ValueKind == JsonValueKind.Number && lag.GetInt64() < 1 << 20)));
    }

    public override async Task<int> PrimaryAsync()
    {
        var leader = (await MembersAsync()).Single(m => m.GetProperty("role").GetString() == "leader");
        return int.Parse(leader.GetProperty("name").GetString()![1..], CultureInfo.InvariantCulture) - 1;
    }

    public override async Task<bool> StreamingAsync(int i) => (await MembersAsync()).Any(m => m.GetProperty("name").GetString() == $"n{i + 1}" &&
        m.GetProperty("role").GetString() != "leader" && m.GetProperty("state").GetString() is "running" or "streaming" &&
        m.TryGetProperty("lag", out var lag) && lag.ValueKind == JsonValueKind.Number && lag.GetInt64() < 1 << 20);
}
