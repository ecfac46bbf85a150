using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Halo.Agent.Drivers;
using Halo.Client;
using Halo.Core.Failover;

namespace Halo.Chaos;

/// <summary>
/// The system under test, all real processes on 127.0.0.1: one `halo server` (embedded store), three `halo agent`s each running
/// its redis-server, one `halo tcp-proxy`. Two fault links per member: agent → server (the agent's --server points at it) and
/// clients/replicas → database (the agent advertises it, so the proxy and the other replicas reach the database through it).
/// </summary>
public sealed class Cluster : IAsyncDisposable
{
    public const string Group = "chaos";
    private readonly string _work;
    private readonly string _halo;
    private readonly TimeProvider _time;
    private readonly int _serverPort = FreePort();
    private readonly string _tokenFile;
    private Child? _server;
    private Child? _proxy;

    private Cluster(string halo, string work, TimeProvider time)
    {
        _halo = halo;
        _work = work;
        _time = time;
        // The server is closed by default: it is bootstrapped with an admin token of our own, which every child and the runner
        // present (the runner drives the cluster as its operator; tokens scoped per role are not what is under test here).
        Token = "halo_" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        _tokenFile = Path.Combine(work, "admin.token");
        var file = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            file.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite; // a secret: readable by its owner only
        }

        using var writer = new StreamWriter(_tokenFile, System.Text.Encoding.UTF8, file);
        writer.WriteLine(Token);
    }

    /// <summary>The admin token the server was bootstrapped with.</summary>
    public string Token { get; }

    /// <summary>Options for a client of this cluster's server, carrying <see cref="Token"/>.</summary>
    public HaloClientOptions ClientOptions => new() { Servers = [Server], Token = Token, AttemptTimeout = TimeSpan.FromSeconds(2) };

    public sealed class Member(string name, int redisPort)
    {
        public string Name { get; } = name;
        public int RedisPort { get; } = redisPort;
        public FaultLink? ToServer { get; set; }
        public FaultLink? ToDatabase { get; set; }
        public Child? Agent { get; set; }
    }

    public IReadOnlyList<Member> Members { get; private set; } = [];
    public int ProxyPort { get; } = FreePort();
    public Uri Server => new($"http://127.0.0.1:{_serverPort}/");

    public static async Task<Cluster> StartAsync(string halo, string work, TimeProvider time, CancellationToken ct)
    {
        Directory.CreateDirectory(work);
        var cluster = new Cluster(halo, work, time);
        cluster.StartServer();
        using var client = new GroupClient(cluster.ClientOptions);
        await Wait.UntilAsync(async () => (await client.ListAsync(ct)) is not null, TimeSpan.FromSeconds(60), "halo server to answer", time, ct);
        await client.PutAsync(Group, new GroupPolicy { LeaseTtl = TimeSpan.FromSeconds(2), AntiFlapWindow = TimeSpan.Zero, AckReplicas = 1 }, ct);
        cluster.Members = Enumerable.Range(1, 3).Select(i => new Member($"r{i}", FreePort())).ToList();
        foreach (var m in cluster.Members)
        {
            m.ToServer = new FaultLink(cluster._serverPort);
            m.ToDatabase = new FaultLink(m.RedisPort);
            cluster.StartAgent(m);
        }

        cluster._proxy = Child.Start(Path.Combine(work, "tcp-proxy.log"), "dotnet", halo, "tcp-proxy", "--server", cluster.Server.ToString(), "--group", Group,
            "--listen", $"127.0.0.1:{cluster.ProxyPort}", "--token-file", cluster._tokenFile);
        return cluster;
    }

    private void StartServer() =>
        _server = Child.Start(Path.Combine(_work, "server.log"), "dotnet", _halo, "server", "--listen", $"127.0.0.1:{_serverPort}", "--data", Path.Combine(_work, "data"),
            "--bootstrap-token-file", _tokenFile);

    public void StartAgent(Member m) =>
        m.Agent = Child.Start(Path.Combine(_work, $"agent-{m.Name}.log"), "dotnet", _halo, "agent", "--server", $"http://127.0.0.1:{m.ToServer!.Port}/",
            "--group", Group, "--member", m.Name, "--redis-server", "/usr/bin/redis-server", "--redis-port", m.RedisPort.ToString(CultureInfo.InvariantCulture),
            "--redis-dir", Path.Combine(_work, m.Name), "--advertise", $"127.0.0.1:{m.ToDatabase!.Port}", "--token-file", _tokenFile);

    public async Task KillServerAsync() => await _server!.Kill9Async().ConfigureAwait(false);

    /// <summary>Starts the server again and waits until it answers; returns how long that took (the model's serverStart).</summary>
    public async Task<TimeSpan> RestartServerAsync(CancellationToken ct)
    {
        await _server!.DisposeAsync().ConfigureAwait(false);
        var started = _time.GetTimestamp();
        StartServer();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        await Wait.UntilAsync(async () =>
        {
            using var response = await http.GetAsync(new Uri(Server, "healthz"), ct).ConfigureAwait(false);
            return response.IsSuccessStatusCode;
        }, TimeSpan.FromSeconds(90), "the restarted server to answer /healthz", _time, ct).ConfigureAwait(false);
        return _time.GetElapsedTime(started);
    }

    /// <summary>The member the status names as primary, or null.</summary>
    public Member? ByName(string? name) => Members.FirstOrDefault(m => m.Name == name);

    /// <summary>Ports a client reaches each member's database on (its real port and its link), for CLIENT INFO attribution.</summary>
    public IReadOnlyDictionary<int, string> MemberByPort() => Members.ToDictionary(m => m.RedisPort, m => m.Name);

    /// <summary>The pid of a member's redis-server (INFO server), or null when it does not answer.</summary>
    public async Task<int?> RedisPidAsync(Member m, CancellationToken ct)
    {
        try
        {
            await using var c = await RespConnection.ConnectAsync("127.0.0.1", m.RedisPort, TimeSpan.FromMilliseconds(500), _time, ct).ConfigureAwait(false);
            var info = await c.ExecuteAsync(TimeSpan.FromSeconds(1), ct, "INFO", "server").ConfigureAwait(false) as string ?? "";
            var line = info.Split('\n').FirstOrDefault(l => l.StartsWith("process_id:", StringComparison.Ordinal));
            return line is null ? null : int.Parse(line["process_id:".Length..].Trim(), CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or InvalidOperationException)
        {
            return null;
        }
    }

    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    public async ValueTask DisposeAsync()
    {
        if (_proxy is not null)
        {
            await _proxy.DisposeAsync().ConfigureAwait(false);
        }

        foreach (var m in Members)
        {
            if (m.Agent is not null)
            {
                await m.Agent.DisposeAsync().ConfigureAwait(false);
            }

            // An agent killed with SIGKILL leaves its redis-server behind; stop it by the pid it wrote.
            if (await RedisPidAsync(m, CancellationToken.None).ConfigureAwait(false) is { } pid)
            {
                Child.Signal(pid, Child.SigKill);
            }

            await m.ToServer!.DisposeAsync().ConfigureAwait(false);
            await m.ToDatabase!.DisposeAsync().ConfigureAwait(false);
        }

        if (_server is not null)
        {
            await _server.DisposeAsync().ConfigureAwait(false);
        }
    }
}

/// <summary>Bounded waits on a condition.</summary>
public static class Wait
{
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what, TimeProvider time, CancellationToken ct)
    {
        var started = time.GetTimestamp();
        while (time.GetElapsedTime(started) < timeout)
        {
            try
            {
                if (await condition().ConfigureAwait(false))
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is IOException or SocketException or HttpRequestException or HaloApiException or OperationCanceledException && !ct.IsCancellationRequested)
            {
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50), time, ct).ConfigureAwait(false);
        }

        throw new TimeoutException($"waited {timeout.TotalSeconds:0} s for {what}");
    }
}
