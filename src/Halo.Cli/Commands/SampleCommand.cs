using System.CommandLine;
using Halo.Client;
using Halo.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Halo.Cli.Commands;

/// <summary>`halo sample`: a small HTTP service that registers itself and heartbeats — what `halo up` runs and tests kill.</summary>
internal static class SampleCommand
{
    public static Command Create()
    {
        var service = new Option<string>("--service") { DefaultValueFactory = _ => "web" };
        var id = new Option<string?>("--id") { Description = "Instance id (default: service-port)" };
        var listen = new Option<string>("--listen") { DefaultValueFactory = _ => "127.0.0.1:0" };
        var ttl = new Option<string>("--ttl") { DefaultValueFactory = _ => "1s", Description = "Heartbeat period" };
        var zone = new Option<string?>("--zone");
        var parent = new Option<int?>("--exit-with") { Description = "Exit when the process with this pid exits (used by halo up)" };
        var advertise = new Option<string?>("--advertise") { Description = "Address to register (default: the listen host; the host name when listening on all interfaces)" };
        var command = new Command("sample", "Run a sample HTTP service that registers and heartbeats") { service, id, listen, ttl, zone, parent, advertise };
        command.SetAction((parse, ct) => CommonOptions.Run(async () =>
        {
            if (!Core.Durations.TryParse(parse.GetValue(ttl), out var period) || period <= TimeSpan.Zero)
            {
                throw new CliException($"--ttl: '{parse.GetValue(ttl)}' is not a positive duration");
            }

            if (parse.GetValue(advertise) is { } advertised && Uri.CheckHostName(advertised) == UriHostNameType.Unknown)
            {
                throw new CliException($"--advertise: '{advertised}' is not a host name or IP address");
            }

            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls(ServerCommand.ListenUrl(parse.GetValue(listen)!));
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            await using var app = builder.Build();
            var name = parse.GetValue(service)!;
            string instance = "";
            long served = 0;
            app.MapGet("/", () => TypedResults.Ok(new { service = name, instance, served = Interlocked.Increment(ref served) }));
            app.MapGet("/healthz", () => TypedResults.Ok(new { status = "ok" }));
            await app.StartAsync(ct);

            var address = HaloServerHost.Address(app);
            var host = parse.GetValue(advertise)
                ?? (address.Host is "0.0.0.0" or "[::]" or "::" ? System.Net.Dns.GetHostName() : address.Host);
            instance = parse.GetValue(id) ?? $"{name}-{address.Port}";
            using var client = CommonOptions.Client(parse);
            var loop = new HeartbeatLoop(client, name, instance,
                new { address = host, port = address.Port, ttl = parse.GetValue(ttl), zone = parse.GetValue(zone), tags = new[] { "sample" } },
                period, TimeProvider.System);
            await loop.StartAsync(ct);
            Console.WriteLine($"sample {name}/{instance} listening on {address} (pid {Environment.ProcessId})");
            if (parse.GetValue(parent) is { } parentPid)
            {
                ParentWatch.Start(parentPid);
            }

            try
            {
                await app.WaitForShutdownAsync(ct);
            }
            finally
            {
                using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(3), TimeProvider.System);
                await loop.StopAsync(stop.Token);
            }

            return 0;
        }));
        return command;
    }

    /// <summary>If `halo up` dies without cleaning up (kill -9), its samples must not heartbeat on forever.</summary>
}
