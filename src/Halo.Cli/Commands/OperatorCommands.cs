using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Halo.Client;
using Halo.Core;
using Halo.Core.Detection;
using Halo.Core.Registry;
using Halo.Core.Serialization;
using Spectre.Console;

namespace Halo.Cli.Commands;

/// <summary>The verbs an operator runs against a server: human tables by default, --json for scripts.</summary>
internal static class OperatorCommands
{
    public static IEnumerable<Command> Create() =>
        [Services(), Instances(), Register(), Deregister(), Drain(), Watch(), Events(), Status()];

    private static Command Services()
    {
        var command = new Command("services", "List services with instance counts by health");
        command.SetAction((parse, ct) => CommonOptions.Run(async () =>
        {
            using var client = CommonOptions.Client(parse);
            var list = await client.ServicesAsync(ct);
            if (parse.GetValue(CommonOptions.Json))
            {
                CommonOptions.WriteJson(list);
                return 0;
            }

            var table = new Table().AddColumns("SERVICE", "INSTANCES", "PASSING", "SUSPECT", "CRITICAL", "DRAINING", "BRAKE", "DOWN WITHIN");
            foreach (var s in list.Services)
            {
                table.AddRow(Markup.Escape(s.Name), Num(s.Instances), Num(s.Passing), Num(s.Suspect), Num(s.Critical), Num(s.Draining), s.BrakeEngaged ? "[red]engaged[/]" : "-", s.DetectionBound ?? "-");
            }

            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    private static Command Instances()
    {
        var service = new Argument<string>("service") { Description = "Service name" };
        var health = new Option<string?>("--health") { Description = "Only instances in this health: passing, suspect, critical (comma-separated)" };
        var command = new Command("instances", "List a service's instances") { service, health };
        command.SetAction((parse, ct) => CommonOptions.Run(async () =>
        {
            using var client = CommonOptions.Client(parse);
            var list = await client.InstancesAsync(parse.GetValue(service)!, parse.GetValue(health), ct: ct);
            if (parse.GetValue(CommonOptions.Json))
            {
                CommonOptions.WriteJson(list);
                return 0;
            }

            AnsiConsole.Write(InstanceTable(list.Instances, TimeProvider.System.GetUtcNow()));
            return 0;
        }));
        return command;
    }

    public static Table InstanceTable(IEnumerable<InstanceRecord> instances, DateTimeOffset now)
    {
        var table = new Table().AddColumns("ID", "ADDRESS", "HEALTH", "WEIGHT", "ZONE", "DRAINING", "LAST HEARTBEAT");
        foreach (var i in instances)
        {
            var color = i.Health switch { HealthStatus.Passing => "green", HealthStatus.Suspect => "yellow", _ => "red" };
            var last = i.LastHeartbeat is { } at ? $"{(now - at).TotalSeconds:0.0}s ago" : "-";
            table.AddRow(Markup.Escape(i.Id), Markup.Escape($"{i.Address}:{i.Port}"), $"[{color}]{i.Health.ToString().ToLowerInvariant()}[/]",
                Num(i.Weight), Markup.Escape(i.Zone ?? "-"), i.Draining ? "yes" : "-", last);
        }

        return table;
    }

    private static Command Register()
    {
        var service = new Argument<string>("service");
        var id = new Argument<string>("id");
        var address = new Option<string>("--address") { DefaultValueFactory = _ => "127.0.0.1", Description = "Host or IP" };
        var port = new Option<int>("--port") { Required = true };
        var weight = new Option<int?>("--weight");
        var zone = new Option<string?>("--zone");
        var tags = new Option<string[]>("--tag") { Description = "Tag (repeatable)", AllowMultipleArgumentsPerToken = false };
        var meta = new Option<string[]>("--meta") { Description = "Metadata key=value (repeatable)" };
        var ttl = new Option<string?>("--ttl") { Description = "Heartbeat period, e.g. 1s" };
        var checkHttp = new Option<string?>("--check-http") { Description = "Server-run HTTP check path, e.g. /healthz" };
        var checkTcp = new Option<bool>("--check-tcp") { Description = "Server-run TCP connect check" };
        var checkInterval = new Option<string?>("--check-interval") { Description = "Check interval, e.g. 5s" };
        var command = new Command("register", "Register or update an instance")
        {
            service, id, address, port, weight, zone, tags, meta, ttl, checkHttp, checkTcp, checkInterval,
        };
        command.SetAction((parse, ct) => CommonOptions.Run(async () =>
        {
            var metadata = new Dictionary<string, string>();
            foreach (var pair in parse.GetValue(meta) ?? [])
            {
                var eq = pair.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0)
                {
                    throw new CliException($"--meta: '{pair}' is not key=value");
                }

                metadata[pair[..eq]] = pair[(eq + 1)..];
            }

            object? check = null;
            if (parse.GetValue(checkHttp) is { } path)
            {
                check = new { type = "http", path, interval = parse.GetValue(checkInterval) };
            }
            else if (parse.GetValue(checkTcp))
            {
                check = new { type = "tcp", interval = parse.GetValue(checkInterval) };
            }

            var body = new Dictionary<string, object?>
            {
                ["address"] = parse.GetValue(address), ["port"] = parse.GetValue(port), ["weight"] = parse.GetValue(weight),
                ["zone"] = parse.GetValue(zone), ["tags"] = parse.GetValue(tags), ["metadata"] = metadata,
                ["ttl"] = parse.GetValue(ttl), ["check"] = check,
            };
            using var client = CommonOptions.Client(parse);
            var record = await client.RegisterAsync(parse.GetValue(service)!, parse.GetValue(id)!, body, ct);
            if (parse.GetValue(CommonOptions.Json))
            {
                CommonOptions.WriteJson(record);
            }
            else
            {
                Console.WriteLine($"registered {record.Service}/{record.Id} at {record.Address}:{record.Port} (revision {record.Revision})");
            }

            return 0;
        }));
        return command;
    }

    private static Command Deregister()
    {
        var service = new Argument<string>("service");
        var id = new Argument<string>("id");
        var command = new Command("deregister", "Remove an instance from the registry") { service, id };
        command.SetAction((parse, ct) => CommonOptions.Run(async () =>
        {
            using var client = CommonOptions.Client(parse);
            await client.DeregisterAsync(parse.GetValue(service)!, parse.GetValue(id)!, ct);
            Console.WriteLine($"deregistered {parse.GetValue(service)}/{parse.GetValue(id)}");
            return 0;
        }));
        return command;
    }

    private static Command Drain()
    {
        var service = new Argument<string>("service");
        var id = new Argument<string>("id");
        var undo = new Option<bool>("--undo") { Description = "Stop draining" };
        var command = new Command("drain", "Mark an instance draining: it stays registered but gets no new traffic") { service, id, undo };
        command.SetAction((parse, ct) => CommonOptions.Run(async () =>
        {
            using var client = CommonOptions.Client(parse);
            var record = await client.DrainAsync(parse.GetValue(service)!, parse.GetValue(id)!, !parse.GetValue(undo), ct);
            if (parse.GetValue(CommonOptions.Json))
            {
                CommonOptions.WriteJson(record);
            }
            else
            {
                Console.WriteLine($"{record.Service}/{record.Id} draining: {(record.Draining ? "yes" : "no")}");
            }

            return 0;
        }));
        return command;
    }

    private static Command Watch()
    {
        var service = new Argument<string?>("service") { Arity = ArgumentArity.ZeroOrOne, Description = "Service to watch (all when omitted)" };
        var from = new Option<long?>("--from") { Description = "Replay changes after this revision first" };
        var command = new Command("watch", "Follow changes live (Ctrl+C to stop)") { service, from };
        command.SetAction((parse, ct) => CommonOptions.Run(async () =>
        {
            using var client = CommonOptions.Client(parse);
            var name = parse.GetValue(service);
            var resume = parse.GetValue(from);
            while (true)
            {
                FeedMessage? reset = null;
                await foreach (var message in client.WatchAsync(name, resume, ct))
                {
                    if (message.Event == "reset")
                    {
                        reset = message;
                    }

                    PrintChange(message, parse.GetValue(CommonOptions.Json));
                }

                // The history asked for is gone: say so (printed above) and go on from the server's revision.
                resume = reset?.Revision;
            }
        }));
        return command;
    }

    private static void PrintChange(FeedMessage message, bool json)
    {
        {
            if (json)
            {
                Console.WriteLine(JsonSerializer.Serialize(new { @event = message.Event, revision = message.Revision, data = JsonDocument.Parse(message.Data).RootElement }, HaloJson.Options));
                return;
            }

            if (message.Event == "put" && HaloClient.ParseInstance(message) is { } r)
            {
                Console.WriteLine($"{message.Revision,8}  {r.Service}/{r.Id}  {r.Health.ToString().ToLowerInvariant()}{(r.Draining ? " draining" : "")}  {r.Address}:{r.Port}");
            }
            else
            {
                Console.WriteLine($"{message.Revision,8}  {message.Event}  {message.Data}");
            }
        }
    }

    private static Command Events()
    {
        var service = new Option<string?>("--service");
        var type = new Option<string?>("--type") { Description = "registered, deregistered, health, draining, removed, brake-engaged, brake-released" };
        var limit = new Option<int>("--limit") { DefaultValueFactory = _ => 50 };
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep streaming new events" };
        var command = new Command("events", "Show the event history") { service, type, limit, follow };
        command.SetAction((parse, ct) => CommonOptions.Run(async () =>
        {
            using var client = CommonOptions.Client(parse);
            var list = await client.EventsAsync(0, parse.GetValue(limit), parse.GetValue(service), parse.GetValue(type), ct);
            var json = parse.GetValue(CommonOptions.Json);
            if (json && !parse.GetValue(follow))
            {
                CommonOptions.WriteJson(list);
                return 0;
            }

            long last = 0;
            foreach (var e in list.Events)
            {
                Print(e, json);
                last = e.Revision;
            }

            if (parse.GetValue(follow))
            {
                await foreach (var message in client.EventStreamAsync(last, ct))
                {
                    if (JsonSerializer.Deserialize<RegistryEvent>(message.Data, HaloJson.Options) is { } e && (parse.GetValue(service) is not { } s || e.Service == s))
                    {
                        Print(e with { Revision = message.Revision }, json);
                    }
                }
            }

            return 0;
        }));
        return command;
    }

    public static string Describe(RegistryEvent e)
    {
        var change = e.From is not null || e.To is not null ? $" {e.From ?? "?"} -> {e.To ?? "?"}" : "";
        var subject = e.Instance is null ? e.Service : $"{e.Service}/{e.Instance}";
        return $"{e.Time.ToLocalTime():HH:mm:ss.fff}  {e.Type,-14} {subject}{change}  {e.Cause}";
    }

    private static void Print(RegistryEvent e, bool json) =>
        Console.WriteLine(json ? JsonSerializer.Serialize(e, HaloJson.Options) : Describe(e));

    private static Command Status()
    {
        var command = new Command("status", "Is the server up and ready, and how healthy is everything");
        command.SetAction((parse, ct) => CommonOptions.Run(async () =>
        {
            using var client = CommonOptions.Client(parse);
            var list = await client.ServicesAsync(ct);
            var total = list.Services.Sum(s => s.Instances);
            var passing = list.Services.Sum(s => s.Passing);
            if (parse.GetValue(CommonOptions.Json))
            {
                CommonOptions.WriteJson(new { server = client.BaseAddress, list.Revision, services = list.Services.Count, instances = total, passing });
                return 0;
            }

            Console.WriteLine($"server {client.BaseAddress} ready at revision {list.Revision}");
            Console.WriteLine($"{list.Services.Count} services, {total} instances, {passing} passing, {total - passing} not passing");
            foreach (var s in list.Services.Where(s => s.Critical > 0 || s.BrakeEngaged))
            {
                Console.WriteLine($"  {s.Name}: {s.Critical} critical{(s.BrakeEngaged ? ", mass-failure brake engaged" : "")}");
            }

            return 0;
        }));
        return command;
    }

    private static string Num(int n) => n.ToString(CultureInfo.InvariantCulture);
}
