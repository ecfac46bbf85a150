using System.CommandLine;
using Halo.Server;
using Halo.Server.Security;
using Microsoft.AspNetCore.Builder;

namespace Halo.Cli.Commands;

/// <summary>The access flags of `halo server` (docs/security.md): closed unless told otherwise, and only on loopback.</summary>
internal sealed class SecurityFlags
{
    private readonly Option<bool> _anonymous = new("--insecure-allow-anonymous")
    {
        Description = "Turn authentication off (every caller is admin). Refused on any non-loopback address; warned about at every start",
    };

    private readonly Option<bool> _metricsAnonymous = new("--metrics-anonymous") { Description = "Serve /metrics without a token (default: needs a read token)" };

    private readonly Option<string?> _bootstrap = new("--bootstrap-token-file")
    {
        Description = "File of the first admin token: read when it exists (a mounted secret, at least 32 characters), else written 0600. Default: <data>/bootstrap.token",
    };

    private readonly Option<string[]> _hosts = new("--allowed-host")
    {
        Description = "Host header value the server answers to (repeatable; DNS-rebinding protection). Default: loopback names on a loopback address, any otherwise",
    };

    public void AddTo(Command command)
    {
        command.Options.Add(_anonymous);
        command.Options.Add(_metricsAnonymous);
        command.Options.Add(_bootstrap);
        command.Options.Add(_hosts);
    }

    public ServerOptions Apply(ParseResult parse, ServerOptions options)
    {
        var anonymous = parse.GetValue(_anonymous);
        if (anonymous && !SecurityOptions.IsLoopback(options.Listen))
        {
            throw new CliException($"--insecure-allow-anonymous: refused on {options.Listen}; anonymous access is allowed on a loopback address only (use tokens: docs/security.md)");
        }

        var hosts = parse.GetValue(_hosts) ?? [];
        if (hosts.FirstOrDefault(h => h.Length == 0 || h.Contains('/', StringComparison.Ordinal) || h.Contains(' ', StringComparison.Ordinal)) is { } bad)
        {
            throw new CliException($"--allowed-host: '{bad}' is not a host name or address");
        }

        return options with
        {
            Security = options.Security with
            {
                AllowAnonymous = anonymous,
                MetricsAnonymous = parse.GetValue(_metricsAnonymous),
                BootstrapTokenFile = parse.GetValue(_bootstrap) ?? options.Security.BootstrapTokenFile,
                AllowedHosts = hosts.Length > 0 ? hosts : options.Security.AllowedHosts,
            },
        };
    }

    /// <summary>Says how to get in: where the admin token is, or that anyone on this machine can.</summary>
    public static void PrintAccess(WebApplication app, ServerOptions options)
    {
        if (HaloServerHost.BootstrapTokenFile(app) is { } file)
        {
            Console.WriteLine($"auth on: admin token in {file} (halo token create NAME --role read|register|operate|admin)");
        }
        else
        {
            Console.Error.WriteLine($"WARNING: authentication is OFF (--insecure-allow-anonymous): any process on this machine that reaches {options.Listen} is admin");
        }
    }
}
