using System.CommandLine;
using System.Text.Json;
using Halo.Agent.Drills;
using Halo.Agent.Drivers;
using Halo.Client;
using Halo.Core;
using Halo.Core.Availability;
using Halo.Core.Configuration;
using Halo.Core.Failover;
using Halo.Core.Serialization;
using Spectre.Console;

namespace Halo.Cli.Commands;

/// <summary>Operator verbs for failover groups: groups, group, switchover, pause, resume, drill.</summary>
internal static class GroupCommands
{
    public static IEnumerable<Command> Create() => [Groups(), Group(), Switchover(), Pause(true), Pause(false), Drill()];

    private static GroupClient Client(ParseResult parse) => CommonOptions.Groups(parse);

    private static Command Groups()
    {
        var command = new Command("groups", "List failover groups with their primary and epoch");
        command.SetAction((parse, ct) => CommonOptions.Run(async () =>
        {
            using var client = Client(parse);
            var list = await client.ListAsync(ct);
            if (parse.GetValue(CommonOptions.Json))
            {
                CommonOptions.WriteJson(list);
                return 0;
            }

            var table = new Table().AddColumns("GROUP", "PRIMARY", "EPOCH", "MEMBERS", "HEALTHY", "PAUSED", "PENDING");
            foreach (var g in list.Groups)
            {
                table.AddRow(Markup.Escape(g.Name), Markup.Escape(g.Primary ?? "-") + (g.PrimaryConfirmed ? "" : " [yellow](unconfirmed)[/]"), g.Epoch.ToString(),
                    g.Members.Count.ToString(), g.Members.Count(m => m.Fresh && m.Healthy).ToString(), g.Paused ? "[yellow]yes[/]" : "-", Markup.Escape(g.Pending ?? "-"));
            }

            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    private static Command Group()
    {
        var name = new Argument<string>("name") { Description = "Group name" };
        var policy = new Option<string?>("--policy") { Description = "Create or update the group from this JSON policy file ('-' for stdin)" };
        var command = new Command("group", "Show a group: primary, epoch, each member's role, health and lag (or set its policy)") { name, policy };
        command.SetAction((parse, ct) => CommonOptions.Run(async () =>
        {
            using var client = Client(parse);
            GroupStatus status;
            if (parse.GetValue(policy) is { } file)
            {
                var text = file == "-" ? await Console.In.ReadToEndAsync(ct) : await File.ReadAllTextAsync(file, ct);
                GroupPolicy parsed;
                try
                {
                    parsed = JsonSerializer.Deserialize<GroupPolicy>(text, HaloJson.Strict) ?? throw new CliException("--policy: empty policy");
                }
                catch (JsonException ex)
                {
                    throw new CliException($"--policy: {ex.Message}");
                }

                status = await client.PutAsync(parse.GetValue(name)!, parsed, ct);
            }
            else
            {
                status = await client.GetAsync(parse.GetValue(name)!, ct: ct);
            }

            Print(parse, status);
            return 0;
        }));
        return command;
    }

    private static void Print(ParseResult parse, GroupStatus g)
    {
        if (parse.GetValue(CommonOptions.Json))
        {
            CommonOptions.WriteJson(g);
            return;
        }

        AnsiConsole.MarkupLine($"group [bold]{Markup.Escape(g.Name)}[/]  epoch {g.Epoch}  primary {Markup.Escape(g.Primary ?? "-")} {(g.PrimaryConfirmed ? "" : "[yellow](unconfirmed)[/]")}{(g.Paused ? "  [yellow]PAUSED[/]" : "")}{(g.Pending is null ? "" : "  " + Markup.Escape(g.Pending))}");
        var table = new Table().AddColumns("MEMBER", "ADDRESS", "ROLE", "EPOCH", "HEALTH", "OFFSET", "LAG", "FENCED", "PRIORITY");
        foreach (var m in g.Members)
        {
            var health = !m.Fresh ? "[red]gone[/]" : !m.DbUp ? "[red]db down[/]" : m.Healthy ? "[green]healthy[/]" : "[yellow]unhealthy[/]";
            table.AddRow(Markup.Escape(m.Name), Markup.Escape(m.Address), m.Role.ToString().ToLowerInvariant(), m.Epoch.ToString(), health, m.Offset.ToString(),
                m.Lag?.ToString() ?? "-", m.Fenced ? "yes" : "-", m.NeverPromote ? "never" : m.Priority.ToString());
        }

        AnsiConsole.Write(table);
        if (g.LastFailover is { } f)
        {
            AnsiConsole.MarkupLine($"last change: epoch {f.Epoch} {Markup.Escape(f.From ?? "-")} -> {Markup.Escape(f.To)} ({Markup.Escape(f.Cause)}), decided {(f.DecidedAt - f.DetectedAt).TotalMilliseconds:0} ms after detection, promoted {(f.PromotedAt is { } p ? $"{(p - f.DecidedAt).TotalMilliseconds:0} ms later" : "not yet")}");
        }
    }

    private static Command Switchover()
    {
        var name = new Argument<string>("name") { Description = "Group name" };
        var to = new Option<string>("--to") { Description = "Member to promote", Required = true };
        var command = new Command("switchover", "Planned change of primary: wait for the candidate to catch up, demote, promote") { name, to };
        command.SetAction((parse, ct) => CommonOptions.Run(async () =>
        {
            using var client = Client(parse);
            Print(parse, await client.SwitchoverAsync(parse.GetValue(name)!, parse.GetValue(to)!, ct));
            return 0;
        }));
        return command;
    }

    private static Command Pause(bool pause)
    {
        var name = new Argument<string>("name") { Description = "Group name" };
        var command = new Command(pause ? "pause" : "resume", pause ? "Maintenance mode: no automatic failover" : "Leave maintenance mode") { name };
        command.SetAction((parse, ct) => CommonOptions.Run(async () =>
        {
            using var client = Client(parse);
            Print(parse, await client.SetPausedAsync(parse.GetValue(name)!, pause, ct));
            return 0;
        }));
        return command;
    }

    /// <summary>The write load the drill runs: SET (+ WAIT) for Redis, single-row commits for PostgreSQL, by the primary's driver.</summary>
    private static async Task<IWriteLoad> DrillLoadAsync(GroupStatus group, (string Host, int Port) through, int waitReplicas, string? secretsFile, CancellationToken ct)
    {
        if (group.Members.FirstOrDefault(m => m.Name == group.Primary)?.Kind != "postgres")
        {
            return new RedisWriteLoad(_ => Task.FromResult(through), waitReplicas, $"halo:drill:{group.Epoch}:");
        }

        if (secretsFile is null)
        {
            throw new CliException("--postgres-secrets: required to write through a PostgreSQL group (the file its agents were given)");
        }

        PostgresSecrets secrets;
        try
        {
            secrets = PostgresSecrets.Load(secretsFile);
        }
        catch (DatabaseSetupException ex)
        {
            throw new CliException(ex.Message);
        }

        var connection = new Npgsql.NpgsqlConnectionStringBuilder
        {
            Host = through.Host, Port = through.Port, Username = PostgresSecrets.SuperuserName, Password = secrets.Superuser, Database = "postgres",
            Pooling = false, Timeout = 2, CancellationTimeout = -1,
        }.ConnectionString;
        await PostgresWriteLoad.CreateTableAsync(connection, ct);
        return new PostgresWriteLoad(_ => Task.FromResult(connection), $"drill-{group.Epoch}");
    }

    private static Command Drill()
    {
        var name = new Argument<string>("name") { Description = "Group name" };
        var mode = new Option<string>("--mode") { Description = "kill (kill -9 the primary database) or isolate (cut its agent off from the server)", DefaultValueFactory = _ => "kill" };
        var through = new Option<string?>("--through") { Description = "host:port of a TCP proxy for the group: run a write load through it and count lost writes" };
        var wait = new Option<int>("--wait-replicas") { Description = "Redis: count a write as acknowledged only after WAIT confirms this many replicas", DefaultValueFactory = _ => 0 };
        var secrets = new Option<string?>("--postgres-secrets") { Description = "PostgreSQL groups: the secrets file (the superuser's password) for the commit load through --through" };
        var timeout = new Option<string>("--timeout") { Description = "Give up after", DefaultValueFactory = _ => "30s" };
        var command = new Command("drill", "Fail the primary on purpose and report detection, decision, promotion and re-routing times and lost writes") { name, mode, through, wait, timeout, secrets };
        command.SetAction((parse, ct) => CommonOptions.Run(async () =>
        {
            var group = parse.GetValue(name)!;
            if (!Durations.TryParse(parse.GetValue(timeout), out var limit)) throw new CliException("--timeout: not a duration");
            using var client = Client(parse);
            var before = await client.GetAsync(group, ct: ct);
            if (!before.PrimaryConfirmed) throw new CliException($"group {group} has no confirmed primary");
            IWriteLoad? load = null;
            using var stopLoad = CancellationTokenSource.CreateLinkedTokenSource(ct);
            Task running = Task.CompletedTask;
            if (parse.GetValue(through) is { } address)
            {
                var (throughHost, throughPort) = CommonOptions.Endpoint(address, "--through");
                var endpoint = (throughHost, throughPort);
                load = await DrillLoadAsync(before, endpoint, parse.GetValue(wait), parse.GetValue(secrets), ct);
                running = load.RunAsync(stopLoad.Token);
                await Task.Delay(TimeSpan.FromMilliseconds(500), TimeProvider.System, ct);
            }

            var time = TimeProvider.System;
            var requestedAt = time.GetTimestamp();
            var drill = await client.DrillAsync(group, parse.GetValue(mode)!, ct: ct);
            var after = before;
            while (time.GetElapsedTime(requestedAt) < limit && !(after.Epoch > before.Epoch && after.PrimaryConfirmed))
            {
                after = await client.GetAsync(group, after.Version, TimeSpan.FromSeconds(1), ct);
            }

            var promotedAt = time.GetElapsedTime(requestedAt);
            var rerouted = load is null ? null : await load.WaitRecoveryAsync(requestedAt, limit - time.GetElapsedTime(requestedAt), ct);

            long lost = 0;
            if (load is not null)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(300), TimeProvider.System, ct);
                await stopLoad.CancelAsync();
                await running;
                lost = await load.CountLostAsync(ct);
            }

            var f = after.LastFailover;
            // The model's time to the first acknowledged write for this drill (docs/failover.md, "Predicted vs measured"): kill is the
            // database crash path; isolate cuts the agent off until a successor exists, the lease path.
            var fault = drill.Mode == "kill" ? new FaultShape(FaultKind.KillPrimary) : new FaultShape(FaultKind.CutAgentServer, Duration: limit);
            var predicted = FaultPrediction.Predict(group, new GroupConfig { LeaseTtl = before.Policy.LeaseTtl }, fault);
            var report = new
            {
                group, mode = drill.Mode, from = before.Primary, to = after.Epoch > before.Epoch ? after.Primary : null, epoch = after.Epoch,
                detectionMs = f is null ? (double?)null : (f.DetectedAt - drill.At).TotalMilliseconds,
                decisionMs = f is null ? (double?)null : (f.DecidedAt - f.DetectedAt).TotalMilliseconds,
                promotionMs = f?.PromotedAt is { } p ? (p - f.DecidedAt).TotalMilliseconds : (double?)null,
                confirmedMs = promotedAt.TotalMilliseconds,
                firstWriteMs = rerouted?.TotalMilliseconds,
                predictedFirstWriteMs = predicted?.Total.TotalMilliseconds,
                writes = load is null ? null : new { attempted = load.Attempted, acknowledged = load.Acked, failed = load.Failed, lost },
            };
            if (parse.GetValue(CommonOptions.Json))
            {
                CommonOptions.WriteJson(report);
            }
            else
            {
                Console.WriteLine($"drill {report.mode} of {report.from} in {group}: new primary {report.to ?? "(none within timeout)"} in epoch {report.epoch}");
                Console.WriteLine($"  detection  {report.detectionMs:0} ms   decision {report.decisionMs:0} ms   promotion {report.promotionMs:0} ms   confirmed after {report.confirmedMs:0} ms");
                if (report.writes is { } w)
                {
                    Console.WriteLine($"  re-routing: first write through {parse.GetValue(through)} {report.firstWriteMs:0} ms after the drill (predicted {report.predictedFirstWriteMs:0} ms)");
                    Console.WriteLine($"  writes: {w.attempted} attempted, {w.acknowledged} acknowledged, {w.failed} failed, {w.lost} acknowledged writes lost");
                }
            }

            return report.to is null ? 1 : 0;
        }));
        return command;
    }
}
