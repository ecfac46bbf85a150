namespace Halo.Server.Security;

/// <summary>
/// The first admin token. When its file exists (a Kubernetes or compose secret, or a previous start) the server
/// trusts that secret; otherwise it writes a new one there, readable by its owner only (0600), and says where.
/// </summary>
internal static class BootstrapToken
{
    public const string FileName = "bootstrap.token";

    public static async Task EnsureAsync(TokenService tokens, string path, CancellationToken ct)
    {
        string secret;
        if (File.Exists(path))
        {
            secret = (await File.ReadAllTextAsync(path, ct).ConfigureAwait(false)).Trim();
            if (secret.Length < TokenSecret.MinLength)
            {
                throw new InvalidOperationException(
                    $"bootstrap token file {path}: the token must be at least {TokenSecret.MinLength} characters (no default or short secret is accepted)");
            }
        }
        else
        {
            secret = TokenSecret.New();
            await TokenSecret.WriteFileAsync(path, secret, ct).ConfigureAwait(false);
        }

        if (tokens.Authenticate(secret) is not null)
        {
            return;
        }

        // Several servers over one etcd, each with its own data directory, each get their own bootstrap token.
        var id = TokenSecret.Id(TokenSecret.Hash(secret));
        var name = tokens.Find("bootstrap") is null ? "bootstrap" : "bootstrap-" + id[..8];
        var template = new TokenRecord { Id = "", Hash = "", Name = name, Role = HaloRole.Admin, CreatedBy = "bootstrap" };
        if (await tokens.CreateAsync(template, secret, ct).ConfigureAwait(false) is not null)
        {
            return;
        }

        // Another server sharing this secret may have registered it between our read and our write: look again.
        _ = await tokens.LoadAsync(ct).ConfigureAwait(false);
        if (tokens.Authenticate(secret) is null)
        {
            throw new InvalidOperationException($"a token named {name} already exists with another secret; revoke it or delete {path}");
        }
    }
}
