using System.CommandLine;
using System.Text.Json;
using Halo.Client;
using Halo.Core.Networking;
using Halo.Core.Serialization;
using Spectre.Console;

namespace Halo.Cli.Commands;

/// <summary>Options every verb shares (how to reach the control plane, output format), and the conventions of CLI output.</summary>
internal static class CommonOptions
{
    public static readonly Option<string?> Server = new("--server")
    {
        Description = "Control-plane address(es), comma-separated; calls move to the next on failure (env HALO_SERVER; default http://127.0.0.1:7400)",
        Recursive = true,
    };

    public static readonly Option<string?> Token = new("--token")
    {
        Description = "Bearer token (env HALO_TOKEN); else --token-file, HALO_TOKEN_FILE, then a local server's .halo/data or .halo/up bootstrap.token",
        Recursive = true,
    };

    public static readonly Option<string?> TokenFile = new("--token-file") { Description = "File holding the bearer token (env HALO_TOKEN_FILE)", Recursive = true };

    public static readonly Option<string?> CaCert = new("--ca-cert") { Description = "PEM CA the server's certificate must chain to (env HALO_CA_CERT)", Recursive = true };

    public static readonly Option<string?> ClientCert = new("--client-cert") { Description = "PEM client certificate for mTLS (env HALO_CLIENT_CERT)", Recursive = true };

    public static readonly Option<string?> ClientKey = new("--client-key") { Description = "PEM key of --client-cert (env HALO_CLIENT_KEY)", Recursive = true };

    public static readonly Option<bool> Json = new("--json") { Description = "Machine-readable JSON output", Recursive = true };

    public static IEnumerable<Option> Global => [Server, Token, TokenFile, CaCert, ClientCert, ClientKey, Json];

    public static readonly JsonSerializerOptions Pretty = new(HaloJson.Options) { WriteIndented = true };

    /// <summary>
    /// How this invocation reaches the control plane, from its flags and the environment in the documented order
    /// (<see cref="HaloClientOptionsBuilder"/>); a bad value is a one-line error naming the flag or variable (exit 2).
    /// </summary>
    public static HaloClientOptions ClientOptions(ParseResult parse, Func<HaloClientOptions, HaloClientOptions>? configure = null)
    {
        try
        {
            return new HaloClientOptionsBuilder { Configure = configure }.Build(Connection(parse));
        }
        catch (HaloOptionsException ex)
        {
            throw new CliException(ex.Message);
        }
    }

    /// <summary>The flags of this invocation, unresolved (a role that has its own fallback for the server fills it in).</summary>
    public static HaloConnectionOptions Connection(ParseResult parse) => new()
    {
        Server = parse.GetValue(Server),
        Token = parse.GetValue(Token),
        TokenFile = parse.GetValue(TokenFile),
        CaCertificateFile = parse.GetValue(CaCert),
        ClientCertificateFile = parse.GetValue(ClientCert),
        ClientKeyFile = parse.GetValue(ClientKey),
    };

    /// <summary>The registry client of this invocation.</summary>
    public static HaloClient Client(ParseResult parse) => new(ClientOptions(parse));

    /// <summary>The groups client of this invocation.</summary>
    public static GroupClient Groups(ParseResult parse) => new(ClientOptions(parse));

    /// <summary>
    /// Spectre sizes tables to the terminal, and to 80 columns when output is redirected, which wraps cells mid-address
    /// (`halo groups | cat`). Piped output is for grep and files: give it all the width it needs.
    /// </summary>
    public static void UnwrapWhenRedirected()
    {
        if (Console.IsOutputRedirected)
        {
            AnsiConsole.Profile.Width = 4096;
        }
    }

    /// <summary>Reads a host:port flag (<see cref="HostPort"/>), or fails naming the flag.</summary>
    public static HostPort Endpoint(string value, string option, bool anyPort = false) =>
        HostPort.TryParse(value, out var endpoint, anyPort) ? endpoint : throw new CliException($"{option}: '{value}' {HostPort.Rule}");

    public static void WriteJson(object value) => Console.Out.WriteLine(JsonSerializer.Serialize(value, Pretty));

    /// <summary>Runs a verb: a failure becomes one line on stderr and a non-zero exit, never a stack trace.</summary>
    public static async Task<int> Run(Func<Task<int>> body)
    {
        try
        {
            return await body().ConfigureAwait(false);
        }
        catch (CliException ex)
        {
            await Console.Error.WriteLineAsync("halo: " + ex.Message).ConfigureAwait(false);
            return 2;
        }
        catch (HaloOptionsException ex)
        {
            await Console.Error.WriteLineAsync("halo: " + ex.Message).ConfigureAwait(false);
            return 2;
        }
        catch (HaloApiException ex)
        {
            await Console.Error.WriteLineAsync($"halo: {(int)ex.Status} {ex.Message}").ConfigureAwait(false);
            return 1;
        }
        catch (HttpRequestException ex)
        {
            // "The SSL connection could not be established, see inner exception" says nothing; the innermost one says which
            // check failed (an untrusted chain, a refused client certificate).
            var innermost = ex.GetBaseException();
            var reason = innermost == ex || ex.Message.Contains(innermost.Message, StringComparison.Ordinal) ? ex.Message : $"{ex.Message.Split(',')[0].TrimEnd('.')}: {innermost.Message}";
            await Console.Error.WriteLineAsync($"halo: cannot reach the server: {reason}").ConfigureAwait(false);
            return 1;
        }
        catch (OperationCanceledException)
        {
            return 130;
        }
    }
}

/// <summary>A user error the CLI reports as one line with exit code 2.</summary>
internal sealed class CliException(string message) : Exception(message);
