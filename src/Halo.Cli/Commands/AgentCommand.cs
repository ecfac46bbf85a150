using System.CommandLine;
using Halo.Agent;
using Halo.Agent.Drivers;
using Halo.Client;
using Halo.Core;
using Halo.Core.Failover;
using Halo.Core.Registry;
using Microsoft.Extensions.Logging;

namespace Halo.Cli.Commands;

/// <summary>`halo agent`: the sidecar of one member of a primary/replica group.</summary>
internal static class AgentCommand
{
    public static Command Create()
    {
        var group = new Option<string>("--group") { Description = "Group name", Required = true };
        var member = new Option<string>("--member") { Description = "This member's name", Required = true };
        var driver = new Option<string>("--driver") { Description = "redis, postgres or exec", DefaultValueFactory = _ => "redis" };
        var redis = new Option<string?>("--redis") { Description = "host:port of an existing Redis (start it with --min-replicas-to-write 2147483647 so it comes up fenced)" };
        var redisServer = new Option<string?>("--redis-server") { Description = "Run and restart redis-server from this path yourself (managed mode)" };
        var redisPort = new Option<int>("--redis-port") { Description = "Port of the managed redis-server", DefaultValueFactory = _ => 6379 };
        var redisDir = new Option<string?>("--redis-dir") { Description = "Working directory of the managed redis-server" };
        var redisTlsCa = new Option<string?>("--redis-tls-ca") { Description = "TLS to Redis: the PEM CA its certificate must chain to (host name checked)" };
        var redisTlsCert = new Option<string?>("--redis-tls-cert") { Description = "TLS to Redis: PEM client certificate (for tls-auth-clients)" };
        var redisTlsKey = new Option<string?>("--redis-tls-key") { Description = "TLS to Redis: PEM key of --redis-tls-cert" };
        var redisAuth = new Option<string?>("--redis-auth-file")
        {
            Description = "File with 'user password' (an ACL user) or 'password' (requirepass) for Redis AUTH and replication; managed Redis starts with it",
        };
        var address = new Option<string?>("--address") { Description = "host:port of the database (exec driver)" };
        var health = new Option<string?>("--exec-health") { Description = "exec: health command (exit 0 = healthy)" };
        var position = new Option<string?>("--exec-position") { Description = "exec: prints the replication position" };
        var promote = new Option<string?>("--exec-promote") { Description = "exec: promote command" };
        var follow = new Option<string?>("--exec-follow") { Description = "exec: follow command (HALO_PRIMARY_HOST, HALO_PRIMARY_PORT)" };
        var fence = new Option<string?>("--exec-fence") { Description = "exec: stop-writes command" };
        var kill = new Option<string?>("--exec-kill") { Description = "exec: kill command (drills)" };
        var pg = new Option<string?>("--postgres") { Description = "host:port of an existing PostgreSQL (unmanaged: promote, re-point standbys, fence)" };
        var pgBin = new Option<string>("--postgres-bin") { Description = "Directory of postgres, initdb, pg_basebackup, pg_rewind", DefaultValueFactory = _ => "/usr/lib/postgresql/15/bin" };
        var pgData = new Option<string?>("--postgres-data") { Description = "Run PostgreSQL yourself from this data directory (managed mode: initdb or pg_basebackup when empty)" };
        var pgPort = new Option<int>("--postgres-port") { Description = "Port of the managed PostgreSQL", DefaultValueFactory = _ => 5432 };
        var pgSecrets = new Option<string?>("--postgres-secrets") { Description = "File with the superuser and replication passwords (written by the member that initialises the group)" };
        var advertise = new Option<string?>("--advertise") { Description = "host:port replicas and clients use to reach the Redis, when not the address the agent uses" };
        var interval = new Option<string>("--interval") { Description = "Probe and report interval", DefaultValueFactory = _ => "100ms" };
        var failsafe = new Option<string>("--failsafe")
        {
            Description = "on (the default): while no server answers, a primary keeps writing on the other members' direct promises (docs/ha.md); off: it fences at its renew deadline",
            DefaultValueFactory = _ => FailsafeDefault,
        };
        var failsafeListen = new Option<string>("--failsafe-listen")
        {
            Description = "IP:port of this agent's failsafe endpoint (port 0 picks a free one)", DefaultValueFactory = _ => "127.0.0.1:0",
        };
        var command = new Command("agent", "Run beside a database: report its health and position, promote, follow and fence it")
        {
            group, member, driver, redis, redisServer, redisPort, redisDir, redisAuth, redisTlsCa, redisTlsCert, redisTlsKey, advertise, address, health, position, promote, follow, fence, kill, interval,
            failsafe, failsafeListen,
            pg, pgBin, pgData, pgPort, pgSecrets,
        };
        command.SetAction((parse, ct) => CommonOptions.Run(async () =>
        {
            var g = parse.GetValue(group)!;
            var m = parse.GetValue(member)!;
            if (!Names.IsValid(g)) throw new CliException($"--group: {Names.Rule}");
            if (!Names.IsValid(m)) throw new CliException($"--member: {Names.Rule}");
            if (!Durations.TryParse(parse.GetValue(interval), out var every) || every < TimeSpan.FromMilliseconds(10) || every > TimeSpan.FromSeconds(10))
            {
                throw new CliException("--interval: must be a duration between 10ms and 10s");
            }

            var failsafeOn = FailsafeSwitch(parse.GetValue(failsafe));
            var failsafeEndpoint = FailsafeEndpoint(parse.GetValue(failsafeListen)!);

            using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Information));
            IManagedDatabase? managed = null;
            IDatabaseDriver db;
            switch (parse.GetValue(driver))
            {
                case "postgres":
                    (db, managed) = Postgres(parse.GetValue(pg), parse.GetValue(pgBin)!, parse.GetValue(pgData), parse.GetValue(pgPort), parse.GetValue(pgSecrets), m,
                        loggers.CreateLogger("halo.agent"));
                    break;
                case "redis" when parse.GetValue(redisServer) is { } path:
                    if (parse.GetValue(redisTlsCa) is not null)
                    {
                        throw new CliException("--redis-tls-ca: managed Redis (--redis-server) does not start TLS yet; run Redis yourself with tls-port and use --redis");
                    }

                    var port = parse.GetValue(redisPort);
                    var managedAuth = Auth(parse.GetValue(redisAuth));
                    managed = new ManagedRedis(path, port, parse.GetValue(redisDir) ?? Path.Combine(".halo", "redis-" + m), auth: managedAuth);
                    db = new RedisDriver("127.0.0.1", port, AgentDefaults.RedisProbeTimeout, advertise: Advertised(parse.GetValue(advertise)), auth: managedAuth);
                    break;
                case "redis":
                    var (host, p) = CommonOptions.Endpoint(parse.GetValue(redis) ?? "127.0.0.1:6379", "--redis");
                    db = new RedisDriver(host, p, AgentDefaults.RedisProbeTimeout, advertise: Advertised(parse.GetValue(advertise)), auth: Auth(parse.GetValue(redisAuth)),
                        tls: Tls(parse.GetValue(redisTlsCa), parse.GetValue(redisTlsCert), parse.GetValue(redisTlsKey)));
                    break;
                case "exec":
                    db = new ExecDriver(parse.GetValue(address) ?? throw new CliException("--address: required with --driver exec"), new ExecCommands
                    {
                        Health = parse.GetValue(health) ?? throw new CliException("--exec-health: required with --driver exec"),
                        Position = parse.GetValue(position),
                        Promote = parse.GetValue(promote) ?? throw new CliException("--exec-promote: required with --driver exec"),
                        Follow = parse.GetValue(follow) ?? throw new CliException("--exec-follow: required with --driver exec"),
                        Fence = parse.GetValue(fence),
                        Kill = parse.GetValue(kill),
                    }, TimeSpan.FromSeconds(5));
                    break;
                default:
                    throw new CliException("--driver: must be redis, postgres or exec");
            }

            var clientOptions = CommonOptions.ClientOptions(parse, configure: GroupAgent.ClientOptions);
            using var client = new GroupClient(clientOptions);
            await using (db)
            await using (managed)
            {
                GroupAgent? started = null;
                await using var listener = failsafeOn
                    ? await FailsafeListener.StartAsync(failsafeEndpoint, r => started?.AnswerPromiseAsync(r, ct) ?? Task.FromResult(new FailsafePromiseAnswer(false, "starting", TimeSpan.Zero)), ct)
                    : null;
                var agent = started = new GroupAgent(
                    new AgentOptions { Group = g, Member = m, Interval = every, Failsafe = failsafeOn, FailsafeAddress = listener?.Address }, db, client,
                    TimeProvider.System, loggers.CreateLogger("halo.agent"), managed);
                Console.WriteLine($"halo agent {m} of group {g}: database {db.Address}{(managed is null ? "" : " (managed)")}, server {string.Join(",", clientOptions.Servers)}");
                try
                {
                    await agent.RunAsync(ct);
                }
                catch (DatabaseSetupException ex)
                {
                    // Nothing a retry can fix: one line, a non-zero exit, and no loop.
                    throw new CliException(ex.Message);
                }
            }

            return 0;
        }));
        return command;
    }

    /// <summary>
    /// The failsafe's default: on since 2026-11-29, after the stressed fault tests passed with it (docs/ha.md, "Failsafe runs");
    /// --failsafe off restores fencing at the renew deadline whenever no server answers.
    /// </summary>
    internal const string FailsafeDefault = "on";

    /// <summary>--failsafe: on or off, anything else is one line naming the flag.</summary>
    internal static bool FailsafeSwitch(string? value) => value switch
    {
        "on" => true,
        "off" => false,
        _ => throw new CliException($"--failsafe: '{value}' must be on or off"),
    };

    /// <summary>--failsafe-listen: an IP address and a port (0 for any free one).</summary>
    internal static System.Net.IPEndPoint FailsafeEndpoint(string value)
    {
        var endpoint = CommonOptions.Endpoint(value, "--failsafe-listen", anyPort: true);
        return System.Net.IPAddress.TryParse(endpoint.Host, out var ip)
            ? new System.Net.IPEndPoint(ip, endpoint.Port)
            : throw new CliException($"--failsafe-listen: '{value}' must be an IP address and a port, e.g. 127.0.0.1:0");
    }

    /// <summary>TLS to Redis from the --redis-tls-* flags, or null; each file is checked now, failing with one line naming its flag.</summary>
    private static RedisTls? Tls(string? ca, string? cert, string? key)
    {
        if (ca is null)
        {
            return (cert ?? key) is null ? null : throw new CliException($"{(cert is not null ? "--redis-tls-cert" : "--redis-tls-key")}: needs --redis-tls-ca");
        }

        if (key is not null && cert is null)
        {
            throw new CliException("--redis-tls-key: needs --redis-tls-cert");
        }

        var tls = new RedisTls(ca, cert, key);
        foreach (var (flag, file) in new[] { ("--redis-tls-ca", ca), ("--redis-tls-cert", cert), ("--redis-tls-key", key) })
        {
            if (file is not null && !File.Exists(file))
            {
                throw new CliException($"{flag}: no such file '{file}'");
            }
        }

        try
        {
            _ = tls.ClientOptions("check");
        }
        catch (System.Security.Cryptography.CryptographicException ex)
        {
            throw new CliException($"{(cert is null ? "--redis-tls-ca" : "--redis-tls-cert")}: cannot load: {ex.Message}");
        }

        return tls;
    }

    /// <summary>Redis credentials from --redis-auth-file, or null; a missing or malformed file is one line naming the flag.</summary>
    private static RedisAuth? Auth(string? file)
    {
        if (file is null)
        {
            return null;
        }

        try
        {
            return RedisAuth.Load(file);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"--redis-auth-file: cannot read '{file}': {ex.Message}");
        }
        catch (FormatException ex)
        {
            throw new CliException($"--redis-auth-file: '{file}' {ex.Message}");
        }
    }

    private static (IDatabaseDriver, IManagedDatabase?) Postgres(string? address, string bin, string? data, int port, string? secretsFile, string member, ILogger logger)
    {
        if (secretsFile is null)
        {
            throw new CliException("--postgres-secrets: required with --driver postgres (a file with the superuser and replication passwords)");
        }

        if (data is null)
        {
            var (host, p) = CommonOptions.Endpoint(address ?? "127.0.0.1:5432", "--postgres");
            PostgresSecrets secrets;
            try
            {
                secrets = PostgresSecrets.Load(secretsFile);
            }
            catch (DatabaseSetupException ex)
            {
                throw new CliException(ex.Message);
            }

            return (new PostgresDriver(host, p, member, () => secrets, TimeSpan.FromMilliseconds(500), logger), null);
        }

        if (address is not null)
        {
            throw new CliException("--postgres: not with --postgres-data (managed mode runs its own server on --postgres-port)");
        }

        var options = new ManagedPostgresOptions { BinDirectory = bin, DataDirectory = Path.GetFullPath(data), Port = port, Member = member, SecretsFile = Path.GetFullPath(secretsFile) };
        try
        {
            options.Validate();
        }
        catch (DatabaseSetupException ex)
        {
            throw new CliException(ex.Message);
        }

        var managed = new ManagedPostgres(options, TimeProvider.System, logger);
        return (new PostgresDriver(options.Host, port, member, () => managed.Secrets, TimeSpan.FromMilliseconds(500), logger, managed), managed);
    }

    private static string? Advertised(string? value)
    {
        if (value is null)
        {
            return null;
        }

        var (host, port) = CommonOptions.Endpoint(value, "--advertise");
        return $"{host}:{port}";
    }
}
