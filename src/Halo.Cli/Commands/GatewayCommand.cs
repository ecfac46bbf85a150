using System.CommandLine;
using Halo.Cli.Tls;
using Halo.Gateway;
using Microsoft.Extensions.Logging;

namespace Halo.Cli.Commands;

/// <summary>`halo gateway`: the HTTP load balancer fed by the registry (docs/gateway.md).</summary>
internal static class GatewayCommand
{
    public static Command Create()
    {
        var config = new Option<string>("--config") { Description = "Gateway config file (YAML or JSON)", Required = true };
        var listen = new Option<string?>("--listen") { Description = "Listen address host:port (default from the file, else 127.0.0.1:7480)" };
        var tlsFlags = new TlsFlags();
        var command = new Command("gateway", "Run the HTTP load balancer in front of registry services") { config, listen };
        tlsFlags.AddTo(command);
        command.SetAction((parse, ct) => CommonOptions.Run(async () =>
        {
            using var loggers = LoggerFactory.Create(l => l.AddSimpleConsole(c => c.SingleLine = true));
            ListenerTls? tls = null;
            try
            {
                return await GatewayHost.RunAsync(new GatewayCommandLine
                {
                    ConfigPath = parse.GetValue(config),
                    Listen = parse.GetValue(listen),
                    // --server, then HALO_SERVER, override the file's server:; the token and TLS flags resolve as for every verb.
                    Server = parse.GetValue(CommonOptions.Server) ?? (Environment.GetEnvironmentVariable("HALO_SERVER") is { Length: > 0 } env ? env : null),
                    Client = CommonOptions.Connection(parse),
                    // The listener's HTTPS: the file's tls section, field by field overridden by --tls-*; a bad file exits 2 naming it.
                    Https = file =>
                    {
                        tls = tlsFlags.Load(parse, file, "tls", TimeProvider.System, loggers.CreateLogger("halo.tls"));
                        return tls is null ? null : tls.Configure;
                    },
                }, ct);
            }
            finally
            {
                tls?.Dispose();
            }
        }));
        return command;
    }
}
