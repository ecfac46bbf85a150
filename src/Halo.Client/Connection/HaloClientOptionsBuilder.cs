namespace Halo.Client;

/// <summary>
/// Builds <see cref="HaloClientOptions"/> from what a user typed (flags) and the environment, in the documented order:
/// servers from <c>--server</c>, else <c>HALO_SERVER</c>, else the local default (a comma-separated list either way);
/// the token from <c>--token</c>, <c>HALO_TOKEN</c>, <c>--token-file</c>, <c>HALO_TOKEN_FILE</c>, then — only when every
/// server is on this machine — the bootstrap token of <c>halo server</c> (<c>.halo/data/bootstrap.token</c>) and of
/// <c>halo up</c> (<c>.halo/up/bootstrap.token</c>) under the working directory. TLS files from <c>--ca-cert</c>/<c>HALO_CA_CERT</c>,
/// <c>--client-cert</c>/<c>HALO_CLIENT_CERT</c>, <c>--client-key</c>/<c>HALO_CLIENT_KEY</c>.
/// </summary>
public sealed class HaloClientOptionsBuilder
{
    private readonly Func<string, string?> _environment;
    private readonly string _workingDirectory;

    /// <summary>Creates a builder reading the given environment (default: the process's) and working directory (default: the current one).</summary>
    public HaloClientOptionsBuilder(Func<string, string?>? environment = null, string? workingDirectory = null)
    {
        _environment = environment ?? Environment.GetEnvironmentVariable;
        _workingDirectory = workingDirectory ?? Environment.CurrentDirectory;
    }

    /// <summary>The default data directories whose bootstrap token a local client picks up, in lookup order.</summary>
    public static IReadOnlyList<string> DefaultTokenFiles { get; } =
        [Path.Combine(".halo", "data", "bootstrap.token"), Path.Combine(".halo", "up", "bootstrap.token")];

    /// <summary>Applied last to the built options (timeouts of a particular role).</summary>
    public Func<HaloClientOptions, HaloClientOptions>? Configure { get; set; }

    /// <summary>
    /// Resolves what the user gave (flags, or configuration keys with the same meaning) with the environment; throws
    /// <see cref="HaloOptionsException"/> naming the flag (--server, --token, --token-file, --ca-cert, --client-cert,
    /// --client-key) or variable at fault.
    /// </summary>
    public HaloClientOptions Build(HaloConnectionOptions given)
    {
        ArgumentNullException.ThrowIfNull(given);
        var (serverText, serverOrigin) = given.Server is not null ? (given.Server, "--server") : _environment("HALO_SERVER") is { Length: > 0 } e ? (e, "HALO_SERVER") : (null, null);
        var servers = serverText is null ? [HaloClientOptions.DefaultServer] : ParseServers(serverText, serverOrigin!);
        var options = new HaloClientOptions
        {
            Servers = servers,
            CaCertificateFile = File("--ca-cert", given.CaCertificateFile, "HALO_CA_CERT"),
            ClientCertificateFile = File("--client-cert", given.ClientCertificateFile, "HALO_CLIENT_CERT"),
            ClientKeyFile = File("--client-key", given.ClientKeyFile, "HALO_CLIENT_KEY"),
        };
        var (token, source) = ResolveToken(options.AllServersLocal, given.Token, given.TokenFile);
        options = options with { Token = token, TokenSource = source };
        if (options.ClientKeyFile is not null && options.ClientCertificateFile is null)
        {
            throw new HaloOptionsException("--client-key", "needs --client-cert");
        }

        options = Configure?.Invoke(options) ?? options;
        if (options.Validate() is { } problem)
        {
            throw new HaloOptionsException(problem[..problem.IndexOf(':', StringComparison.Ordinal)], problem[(problem.IndexOf(':', StringComparison.Ordinal) + 2)..]);
        }

        return options.EnsureValid();
    }

    /// <summary>Parses a comma-separated list of http(s) URLs; <paramref name="origin"/> names the flag or variable in errors.</summary>
    public static IReadOnlyList<Uri> ParseServers(string text, string origin)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length == 0 || parts.All(p => p.Length == 0))
        {
            throw new HaloOptionsException(origin, "no server address given");
        }

        var servers = new List<Uri>();
        foreach (var part in parts)
        {
            if (part.Length == 0)
            {
                throw new HaloOptionsException(origin, $"'{text}' has an empty entry");
            }

            if (!Uri.TryCreate(part, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.Host.Length == 0
                || !string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment) || !string.IsNullOrEmpty(uri.UserInfo))
            {
                throw new HaloOptionsException(origin, $"'{part}' is not an http(s) URL");
            }

            var normalized = HaloClientOptions.WithSlash(uri);
            if (!servers.Contains(normalized))
            {
                servers.Add(normalized);
            }
        }

        return servers;
    }

    private (string? Token, string? Source) ResolveToken(bool local, string? token, string? tokenFile)
    {
        if (token is not null)
        {
            return (Checked(token, "--token"), "--token");
        }

        if (_environment("HALO_TOKEN") is { Length: > 0 } env)
        {
            return (Checked(env, "HALO_TOKEN"), "HALO_TOKEN");
        }

        if (File("--token-file", tokenFile, "HALO_TOKEN_FILE") is { } file)
        {
            var origin = tokenFile is not null ? "--token-file" : "HALO_TOKEN_FILE";
            return (Checked(Read(file, origin), origin), file);
        }

        // A bootstrap token is an admin credential: hand it only to a server on this machine, never to a remote one.
        if (local)
        {
            foreach (var relative in DefaultTokenFiles)
            {
                var path = Path.Combine(_workingDirectory, relative);
                if (System.IO.File.Exists(path))
                {
                    return (Checked(Read(path, path), path), path);
                }
            }
        }

        return (null, null);
    }

    private string? File(string flag, string? value, string variable)
    {
        var (path, origin) = value is not null ? (value, flag) : _environment(variable) is { Length: > 0 } e ? (e, variable) : (null, null);
        if (path is null)
        {
            return null;
        }

        var full = Path.IsPathRooted(path) ? path : Path.Combine(_workingDirectory, path);
        return System.IO.File.Exists(full) ? full : throw new HaloOptionsException(origin!, $"file '{path}' does not exist");
    }

    private static string Read(string path, string origin)
    {
        try
        {
            return System.IO.File.ReadAllText(path).Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new HaloOptionsException(origin, $"cannot read '{path}': {ex.Message}");
        }
    }

    private static string Checked(string token, string origin) =>
        token.Length > 0 && !token.Any(c => char.IsWhiteSpace(c) || char.IsControl(c))
            ? token
            : throw new HaloOptionsException(origin, "the token is empty or has spaces or control characters");
}

/// <summary>A bad client option; <see cref="Option"/> names the flag, variable or property, as the user wrote it.</summary>
public sealed class HaloOptionsException(string option, string problem) : Exception($"{option}: {problem}")
{
    /// <summary>The flag, variable or property at fault, e.g. "--server" or "HALO_TOKEN_FILE".</summary>
    public string Option { get; } = option;

    /// <summary>What is wrong with it.</summary>
    public string Problem { get; } = problem;
}
