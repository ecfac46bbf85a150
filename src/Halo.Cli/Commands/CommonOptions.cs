using System.CommandLine;
using System.Text.Json;
using Halo.Client;
using Halo.Core.Serialization;

namespace Halo.Cli.Commands;

/// <summary>Options every operator verb shares, and the conventions of CLI output.</summary>
internal static class CommonOptions
{
    public static readonly Option<string> Server = new("--server")
    {
        Description = "Control-plane address (env HALO_SERVER)",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("HALO_SERVER") ?? "http://127.0.0.1:7400",
        Recursive = true,
    };

    public static readonly Option<bool> Json = new("--json") { Description = "Machine-readable JSON output", Recursive = true };

    public static IEnumerable<Option> Global => [Server, Json];

    public static readonly JsonSerializerOptions Pretty = new(HaloJson.Options) { WriteIndented = true };

    public static HaloClient Client(ParseResult parse)
    {
        var url = parse.GetValue(Server)!;
        if (!Uri.TryCreate(url.EndsWith('/') ? url : url + "/", UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https"))
        {
            throw new CliException($"--server: '{url}' is not an http(s) URL");
        }

        return new HaloClient(uri);
    }

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
        catch (HaloApiException ex)
        {
            await Console.Error.WriteLineAsync($"halo: {(int)ex.Status} {ex.Message}").ConfigureAwait(false);
            return 1;
        }
        catch (HttpRequestException ex)
        {
            await Console.Error.WriteLineAsync($"halo: cannot reach the server: {ex.Message}").ConfigureAwait(false);
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
