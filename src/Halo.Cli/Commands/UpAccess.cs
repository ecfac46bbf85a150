using Halo.Client;
using Halo.Server;
using Halo.Server.Security;
using Microsoft.AspNetCore.Builder;

namespace Halo.Cli.Commands;

/// <summary>
/// The tokens `halo up` hands to what it starts, each with the least role it needs: samples register `web`, the
/// gateway reads and reports, each agent speaks only for its member, the proxy reads its group, the dashboard link
/// reads. Written 0600 under &lt;data&gt;/tokens/; re-issued (old secret revoked) at every start.
/// </summary>
internal sealed class UpAccess(WebApplication app, IReadOnlyList<Uri> servers, string dataDirectory, bool anonymous)
{
    /// <summary>The in-process server (tokens are issued through it).</summary>
    public Uri Server => servers[0];

    /// <summary>Every server `halo up` runs (three with --ha), comma-separated: the children's --server value.</summary>
    public string ServerList => string.Join(',', servers.Select(s => s.ToString().TrimEnd('/')));

    /// <summary>Issues a token and returns the file holding it (null when the server runs anonymous).</summary>
    public async Task<string?> IssueAsync(string name, HaloRole role, IReadOnlyList<string>? services = null, IReadOnlyList<string>? groups = null,
        string? member = null, CancellationToken ct = default)
    {
        if (anonymous)
        {
            return null;
        }

        var template = new TokenRecord { Id = "", Hash = "", Name = name, Role = role, Services = services, Groups = groups, Member = member };
        var secret = await HaloServerHost.IssueTokenAsync(app, template, ct);
        var file = Path.Combine(dataDirectory, "tokens", name + ".token");
        await TokenSecret.WriteFileAsync(file, secret, ct);
        return file;
    }

    /// <summary>The secret of an issued token file (for the dashboard link).</summary>
    public static string Read(string file) => File.ReadAllText(file).Trim();

    /// <summary>--token-file FILE for a child, or nothing when anonymous.</summary>
    public static string[] Flag(string? file) => file is null ? [] : ["--token-file", file];

    /// <summary>Client options for an in-process client of this server with the token in <paramref name="file"/>.</summary>
    public HaloClientOptions Client(string? file) =>
        new() { Servers = [.. servers], Token = file is null ? null : Read(file), TokenSource = file };
}
