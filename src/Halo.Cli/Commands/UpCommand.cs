using System.CommandLine;
using System.Text.Json;
using Halo.Client;
using Halo.Core.Registry;
using Halo.Core.Serialization;
using Halo.Server;
using Halo.Server.Security;
using Halo.Store;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace Halo.Cli.Commands;

/// <summary>
/// `halo up`: the whole system on one machine — a server on the embedded store and three sample instances
/// that register and heartbeat — then live status until Ctrl+C, when it stops everything it started. With --ha the
/// control plane is three servers over a three-member etcd cluster instead (docs/ha.md), and every client takes all three.
/// </summary>
internal static class UpCommand
{
    public static Command Create()
    {
        var listen = new Option<string>("--listen") { Description = "Control-plane address", DefaultValueFactory = _ => "127.0.0.1:7400" };
        var data = new Option<string>("--data") { Description = "Data directory", DefaultValueFactory = _ => Path.Combine(".halo", "up") };
        var samples = new Option<int>("--samples") { Description = "Sample instances to start (0-20)", DefaultValueFactory = _ => 3 };
        var gateway = new Option<string>("--gateway-listen") { Description = "Gateway address", DefaultValueFactory = _ => "127.0.0.1:7480" };
        var noRedis = new Option<bool>("--no-redis") { Description = "Do not start the Redis group (started by default when redis-server is installed)" };
        var redisPort = new Option<int>("--redis-port") { Description = "Port of the TCP proxy to the Redis primary (0: any free port)", DefaultValueFactory = _ => 6400 };
        var postgres = new Option<bool>("--postgres") { Description = "Also start a three-member PostgreSQL 15 group (managed, synchronous preferred) with a TCP proxy to its primary" };
        var postgresPort = new Option<int>("--postgres-port") { Description = "Port of the TCP proxy to the PostgreSQL primary (0: any free port)", DefaultValueFactory = _ => 5440 };
        var model = new Option<string?>("--model") { Description = "halo model topology: predicted availability beside the measured one on the dashboard" };
        var webhooks = new Option<string[]>("--alert-webhook") { Description = "URL that receives Alertmanager-compatible alert webhooks (repeatable)" };
        var ha = new Option<bool>("--ha") { Description = "Three halo servers over a three-member etcd cluster (the etcd binary, free ports), instead of one server on the embedded store" };
        var security = new SecurityFlags();
        var command = new Command("up", "Start everything on this machine and show live status") { listen, data, samples, gateway, noRedis, redisPort, postgres, postgresPort, model, webhooks, ha };
        security.AddTo(command);
        command.SetAction((parse, ct) => CommonOptions.Run(() =>
            RunAsync(parse.GetValue(listen)!, parse.GetValue(data)!, parse.GetValue(ha), parse.GetValue(samples), parse.GetValue(gateway)!,
                parse.GetValue(noRedis) ? null : parse.GetValue(redisPort), parse.GetValue(postgres) ? parse.GetValue(postgresPort) : null,
                o => security.Apply(parse, ServerCommand.WithModel(ServerCommand.WithWebhooks(o, parse.GetValue(webhooks)), parse.GetValue(model))), ct)));
        return command;
    }

    /// <summary>The gateway `halo up` runs: every request to the sample service, balanced by latency, retried elsewhere on failure.</summary>
    private const string GatewayConfig = """
        # Written by `halo up`: every request goes to the `web` service.
        routes:
          - cluster: web
        clusters:
          web:
            service: web
            policy: peak-ewma
            retry: { attempts: 3, perTryTimeout: 1s }
            health:
              passive: { consecutiveFailures: 3, baseEjectionTime: 2s }
        """;

    private static async Task<int> RunAsync(
        string listen, string data, bool ha, int sampleCount, string gatewayListen, int? redisPort, int? postgresPort, Func<ServerOptions, ServerOptions> monitoring, CancellationToken ct)
    {
        if (sampleCount is < 0 or > 20)
        {
            throw new CliException("--samples: must be between 0 and 20");
        }

        if (redisPort is < 0 or > 65535)
        {
            throw new CliException("--redis-port: must be between 0 and 65535");
        }

        if (postgresPort is < 0 or > 65535)
        {
            throw new CliException("--postgres-port: must be between 0 and 65535");
        }

        var options = monitoring(new ServerOptions { Listen = ServerCommand.ListenUrl(listen), DataDirectory = data });
        await using var etcd = ha ? await UpEtcdCluster.StartAsync(Path.GetFullPath(data), members: 3, ct) : null;
        if (etcd is not null)
        {
            options = options with { Store = Halo.Core.Configuration.StoreKind.Etcd, Cluster = true, EtcdEndpoints = etcd.Endpoints };
        }

        IStore store;
        try
        {
            store = etcd is null ? await StoreFactory.OpenEmbeddedAsync(data, ct) : await StoreFactory.OpenEtcdAsync(etcd.Endpoints, ct);
        }
        catch (StoreStartException ex)
        {
            throw new CliException(ex.Message);
        }

        await using var storeScope = store;
        await using var app = await HaloServerHost.BuildAsync(options, store, logging: l => l.ClearProviders(), cancellationToken: ct);
        try
        {
            await app.StartAsync(ct);
        }
        catch (IOException ex)
        {
            throw new CliException($"cannot listen on {listen}: {ex.Message} (is another halo running? try --listen 127.0.0.1:0)");
        }

        var server = HaloServerHost.Address(app);
        var children = new List<ChildProcess>();
        var peers = new List<ChildProcess>();
        RedisGroupDemo? redis = null;
        PostgresGroupDemo? postgres = null;
        try
        {
            List<Uri> servers = [server];
            if (etcd is not null)
            {
                servers.AddRange(await StartPeersAsync(etcd, Path.GetFullPath(data), HaloServerHost.BootstrapTokenFile(app), peers, ct));
            }

            var access = new UpAccess(app, servers, Path.GetFullPath(data), options.Security.AllowAnonymous);
            var sampleToken = await access.IssueAsync("up-samples", HaloRole.Register, services: ["web"], ct: ct);
            for (var i = 1; i <= sampleCount; i++)
            {
                children.Add(ChildProcess.StartHalo($"sample web-{i}", ["sample", "--service", "web", "--id", $"web-{i}", "--server", access.ServerList,
                    "--exit-with", Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture), .. UpAccess.Flag(sampleToken)]));
            }

            var gatewayConfig = Path.Combine(data, "gateway.yaml");
            await File.WriteAllTextAsync(gatewayConfig, GatewayConfig, ct);
            var gatewayToken = await access.IssueAsync("up-gateway", HaloRole.Register, ct: ct);
            var gateway = ChildProcess.StartHalo("gateway", ["gateway", "--config", gatewayConfig, "--listen", gatewayListen, "--server", access.ServerList,
                .. UpAccess.Flag(gatewayToken)]);
            children.Add(gateway);

            var lines = new List<string>();
            foreach (var child in children)
            {
                lines.Add(await child.WaitReadyAsync(TimeSpan.FromSeconds(30), ct));
            }

            var gatewayUrl = lines[^1][(lines[^1].IndexOf("http", StringComparison.Ordinal))..].Trim();
            string? redisProblem = null;
            if (redisPort is { } port)
            {
                try
                {
                    redis = await RedisGroupDemo.StartAsync(access, Path.GetFullPath(data), proxyPort: port, ct: ct);
                }
                catch (Exception ex) when (ex is System.Net.Sockets.SocketException or CliException or HaloApiException)
                {
                    // The group is an extra: a busy port or a failing agent must not take the rest of the demo down.
                    redisProblem = ex.Message;
                }
            }

            string? postgresLine = null;
            if (postgresPort is { } pgPort)
            {
                try
                {
                    postgres = await PostgresGroupDemo.StartAsync(access, Path.GetFullPath(data), proxyPort: pgPort, ct: ct);
                    postgresLine = postgres is null
                        ? "postgres group  not started (PostgreSQL 15 not installed: apt-get install postgresql)"
                        : $"postgres group  {postgres.Group}: {postgres.PsqlLine} always reaches the primary (halo group {postgres.Group})";
                }
                catch (Exception ex) when (ex is System.Net.Sockets.SocketException or CliException or HaloApiException)
                {
                    postgresLine = $"postgres group  not started ({ex.Message})";
                }
            }

            var redisLine = redis is null
                ? $"redis group     not started ({redisProblem ?? "redis-server not installed, or --no-redis"})"
                : $"redis group     {redis.Group}: redis-cli -p {redis.ProxyAddress.Port} always reaches the primary (halo group {redis.Group})";
            // The dashboard link signs this machine's browser in with a read token, in the fragment (never sent to the server).
            var dashboardToken = await access.IssueAsync("up-dashboard", HaloRole.Read, ct: ct);
            var dashboard = dashboardToken is null ? server.ToString() : $"{server}#token={UpAccess.Read(dashboardToken)}";
            PrintWhere(server, dashboard, Path.GetFullPath(data), gatewayUrl, postgresLine is null ? redisLine : redisLine + "\n  " + postgresLine, lines[..^1], children.Count > 1 ? children[0].Pid : 0,
                HaloServerHost.BootstrapTokenFile(app));
            if (etcd is not null)
            {
                PrintHa(etcd, servers, peers, access.ServerList, HaloServerHost.BootstrapTokenFile(app));
            }

            await ShowLiveAsync(access.Client(HaloServerHost.BootstrapTokenFile(app)), ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        finally
        {
            Console.WriteLine(etcd is null ? "stopping: samples, gateway, database groups, server" : "stopping: samples, gateway, database groups, servers, etcd");
            // Every child is stopped even when stopping another one fails: nothing started here may outlive `halo up`.
            // Quick kills first (samples, gateway), the Redis group's graceful stop last: the command line gives an
            // interrupted action only a short grace before the process exits, and an orphan must never be left.
            var stopping = children.Select(c => (Func<ValueTask>)c.DisposeAsync).ToList();
            if (redis is not null)
            {
                stopping.Add(redis.DisposeAsync);
            }

            if (postgres is not null)
            {
                stopping.Add(postgres.DisposeAsync);
            }

            // The other servers after the agents (an agent stopping its database still reports), etcd after this server.
            stopping.AddRange(peers.Select(p => (Func<ValueTask>)p.DisposeAsync));

            foreach (var stopOne in stopping)
            {
                try
                {
                    await stopOne();
                }
                catch (Exception ex)
                {
                    await Console.Error.WriteLineAsync($"halo up: stopping: {ex.GetType().Name}: {ex.Message}");
                }
            }

            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5), TimeProvider.System);
            await app.StopAsync(stop.Token);
        }

        return 0;
    }

    /// <summary>Starts the two other servers of --ha over <paramref name="etcd"/>, sharing this server's bootstrap token; returns their URLs.</summary>
    private static async Task<List<Uri>> StartPeersAsync(UpEtcdCluster etcd, string data, string? bootstrapTokenFile, List<ChildProcess> peers, CancellationToken ct)
    {
        var urls = new List<Uri>();
        for (var i = 2; i <= 3; i++)
        {
            var port = RedisGroupDemo.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture);
            string[] security = bootstrapTokenFile is null ? ["--insecure-allow-anonymous"] : ["--bootstrap-token-file", bootstrapTokenFile];
            peers.Add(ChildProcess.StartHalo($"server {i}", ["server", "--etcd", etcd.Endpoints, "--listen", $"127.0.0.1:{port}",
                "--data", Path.Combine(data, "servers", $"server-{i}"), .. security]));
            urls.Add(new Uri($"http://127.0.0.1:{port}/"));
        }

        foreach (var peer in peers)
        {
            await peer.WaitReadyAsync(TimeSpan.FromSeconds(30), ct);
        }

        return urls;
    }

    private static void PrintHa(UpEtcdCluster etcd, List<Uri> servers, List<ChildProcess> peers, string serverList, string? adminTokenFile)
    {
        var auth = adminTokenFile is null ? "" : $"-H \"Authorization: Bearer $(cat {adminTokenFile})\" ";
        Console.WriteLine($"""
            High availability (--ha): three servers over a three-member etcd cluster; every client above takes all three.
              etcd            {etcd.Endpoints}    (pids {string.Join(", ", etcd.Pids)})
              server 1        {servers[0]}    (this process, pid {Environment.ProcessId})
            """);
        for (var i = 0; i < peers.Count; i++)
        {
            Console.WriteLine($"  server {i + 2}        {servers[i + 1]}    (server pid {peers[i].Pid})");
        }

        Console.WriteLine($"""

            Kill a server:  kill -9 {peers[0].Pid}    # server 2; its services move to the others within the membership TTL
            Watch:          curl {auth}{servers[^1]}v1/cluster    # two members, who owns what
                            halo services --server {serverList}    # no instance turns critical because a server died
                            the live log below keeps going: it follows all three servers

            """);
    }

    private static void PrintWhere(Uri server, string dashboard, string data, string gateway, string redisLine, List<string> sampleLines, int samplePid, string? adminToken)
    {
        Console.WriteLine($"""
            Halo is up.
              dashboard       {dashboard}    (live status in a browser; the link signs it in)
              admin token     {adminToken ?? "none: authentication is OFF"}    (the CLI here finds it by itself)
              gateway         {gateway}    -> service web (curl {gateway})
              control plane   {server}    (API: docs/api.md)
              metrics         {server}metrics
              events          {server}v1/events
              data            {data}
              {redisLine}
            """);
        foreach (var line in sampleLines)
        {
            Console.WriteLine($"  {line}");
        }

        Console.WriteLine($"""

            Try:   curl {gateway}
                   halo services --server {server}
                   halo watch web --server {server}
                   kill {samplePid}    # stop a sample: it goes critical, the gateway keeps answering
            Ctrl+C stops everything started here.

            """);
    }

    /// <summary>Follows the event stream; on a terminal also redraws a status table, otherwise prints one line per event.</summary>
    private static async Task ShowLiveAsync(HaloClientOptions server, CancellationToken ct)
    {
        using var client = new HaloClient(server);
        var interactive = !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
        var recent = (await client.EventsAsync(limit: 1, ct: ct)).Events;
        var since = recent.Count > 0 ? recent[^1].Revision : 0;
        // The feed reader resumes after disconnects by itself; the event stream has no reset.
        await foreach (var message in client.EventStreamAsync(since, ct))
        {
            if (JsonSerializer.Deserialize<RegistryEvent>(message.Data, HaloJson.Options) is { } e)
            {
                Console.WriteLine(OperatorCommands.Describe(e));
            }

            if (interactive)
            {
                try
                {
                    var list = await client.InstancesAsync("web", ct: ct);
                    AnsiConsole.Write(OperatorCommands.InstanceTable(list.Instances, TimeProvider.System.GetUtcNow()));
                }
                catch (Exception ex) when (ex is HttpRequestException or HaloApiException && !ct.IsCancellationRequested)
                {
                    // The table is redrawn at the next event.
                }
            }
        }
    }
}
