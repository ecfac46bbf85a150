using System.CommandLine;
using System.Net;
using Halo.Core.Registry;
using Halo.Gateway.Tcp;
using Microsoft.Extensions.Logging;

namespace Halo.Cli.Commands;

/// <summary>`halo tcp-proxy`: a TCP listener that always points at the current primary (or the replicas) of a group.</summary>
internal static class TcpProxyCommand
{
    public static Command Create()
    {
        var group = new Option<string>("--group") { Description = "Group name", Required = true };
        var role = new Option<string>("--role") { Description = "primary, or replica (reads spread over healthy replicas within --max-lag)", DefaultValueFactory = _ => "primary" };
        var maxLag = new Option<long?>("--max-lag") { Description = "replica role: bytes a replica may be behind the primary and still get connections (default: the group's maxLagBytes)" };
        var listen = new Option<string>("--listen") { Description = "host:port to listen on", DefaultValueFactory = _ => "127.0.0.1:6400" };
        var command = new Command("tcp-proxy", "Route TCP connections to a group's current primary (or replicas)") { group, role, listen, maxLag };
        command.SetAction((parse, ct) => CommonOptions.Run(async () =>
        {
            var g = parse.GetValue(group)!;
            if (!Names.IsValid(g)) throw new CliException($"--group: {Names.Rule}");
            if (parse.GetValue(role) is not ("primary" or "replica" or "replicas") || parse.GetValue(role) is not { } r) throw new CliException("--role: must be primary or replica");
            if (parse.GetValue(maxLag) is < 0) throw new CliException("--max-lag: must not be negative");
            var (host, port) = CommonOptions.Endpoint(parse.GetValue(listen)!, "--listen", anyPort: true);
            if (!IPAddress.TryParse(host, out var ip)) throw new CliException("--listen: the host must be an IP address");
            using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Information));
            await using var proxy = TcpProxyHost.Start(new TcpProxyOptions { Listen = new IPEndPoint(ip, port), Client = CommonOptions.ClientOptions(parse), Group = g, Role = r, MaxLagBytes = parse.GetValue(maxLag) },
                logger: loggers.CreateLogger("halo.tcp-proxy"));
            Console.WriteLine($"halo tcp-proxy for {g}/{r} listening on {proxy.LocalEndpoint}");
            try
            {
                await Task.Delay(Timeout.InfiniteTimeSpan, TimeProvider.System, ct);
            }
            catch (OperationCanceledException)
            {
            }

            return 0;
        }));
        return command;
    }
}
