using System.CommandLine;
using Halo.Agent;
using Halo.Agent.Drivers;
using Halo.Client;
using Halo.Core;
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
        var driver = new Option<string>("--driver") { Description = "redis or exec", DefaultValueFactory = _ => "redis" };
        var redis = new Option<string?>("--redis") { Description = "host:port of an existing Redis (start it with --min-replicas-to-write 2147483647 so it comes up fenced)" };
        var redisServer = new Option<string?>("--redis-server") { Description = "Run and restart redis-server from this path yourself (managed mode)" };
        var redisPort = new Option<int>("--redis-port") { Description = "Port of the managed redis-server", DefaultValueFactory = _ => 6379 };
        var redisDir = new Option<string?>("--redis-dir") { Description = "Working directory of the managed redis-server" };
        var address = new Option<string?>("--address") { Description = "host:port of the database (exec driver)" };
        var health = new Option<string?>("--exec-health") { Description = "exec: health command (exit 0 = healthy)" };
        var position = new Option<string?>("--exec-position") { Description = "exec: prints the replication position" };
        var promote = new Option<string?>("--exec-promote") { Description = "exec: promote command" };
        var follow = new Option<string?>("--exec-follow") { Description = "exec: follow command (HALO_PRIMARY_HOST, HALO_PRIMARY_PORT)" };
        var fence = new Option<string?>("--exec-fence") { Description = "exec: stop-writes command" };
        var kill = new Option<string?>("--exec-kill") { Description = "exec: kill command (drills)" };
        var interval = new Option<string>("--interval") { Description = "Probe and report interval", DefaultValueFactory = _ => "100ms" };
        var command = new Command("agent", "Run beside a database: report its health and position, promote, follow and fence it")
        {
            group, member, driver, redis, redisServer, redisPort, redisDir, address, health, position, promote, follow, fence, kill, interval,
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

            ManagedRedis? managed = null;
            IDatabaseDriver db;
            switch (parse.GetValue(driver))
            {
                case "redis" when parse.GetValue(redisServer) is { } path:
                    var port = parse.GetValue(redisPort);
                    managed = new ManagedRedis(path, port, parse.GetValue(redisDir) ?? Path.Combine(".halo", "redis-" + m));
                    db = new RedisDriver("127.0.0.1", port, TimeSpan.FromMilliseconds(250));
                    break;
                case "redis":
                    var (host, p) = CommonOptions.Endpoint(parse.GetValue(redis) ?? "127.0.0.1:6379", "--redis");
                    db = new RedisDriver(host, p, TimeSpan.FromMilliseconds(250));
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
                    throw new CliException("--driver: must be redis or exec");
            }

            // With somewhere else to go, a report that a hung server holds for most of its budget moves on instead.
            var clientOptions = CommonOptions.ClientOptions(parse, configure: o => o.Servers.Count > 1
                ? o with { ConnectTimeout = TimeSpan.FromMilliseconds(250), AttemptTimeout = TimeSpan.FromMilliseconds(400) }
                : o);
            var server = clientOptions.Servers[0];
            using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Information));
            using var client = new GroupClient(clientOptions);
            await using (db)
            await using (managed)
            {
                var agent = new GroupAgent(new AgentOptions { Server = server, Group = g, Member = m, Interval = every }, db, client, TimeProvider.System,
                    loggers.CreateLogger("halo.agent"), managed);
                Console.WriteLine($"halo agent {m} of group {g}: database {db.Address}{(managed is null ? "" : " (managed)")}, server {string.Join(",", clientOptions.Servers)}");
                await agent.RunAsync(ct);
            }

            return 0;
        }));
        return command;
    }
}
