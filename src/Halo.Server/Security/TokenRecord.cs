namespace Halo.Server.Security;

/// <summary>
/// A token as stored: its name, role, scope and the SHA-256 of the secret — never the secret itself. The secret is
/// shown once, when it is created.
/// </summary>
public sealed record TokenRecord
{
    /// <summary>First 16 hex digits of the secret's hash: names the token in logs and lookups without revealing it.</summary>
    public required string Id { get; init; }

    public required string Name { get; init; }

    public required HaloRole Role { get; init; }

    /// <summary>SHA-256 of the secret, hex.</summary>
    public required string Hash { get; init; }

    /// <summary>Services this token may touch; null: every service; empty: none.</summary>
    public IReadOnlyList<string>? Services { get; init; }

    /// <summary>Groups this token may touch; null: every group; empty: none.</summary>
    public IReadOnlyList<string>? Groups { get; init; }

    /// <summary>"group/member" for an agent's token: it may report only as that member.</summary>
    public string? Member { get; init; }

    public DateTimeOffset Created { get; init; }

    /// <summary>Name of the token that created this one ("bootstrap" for the first).</summary>
    public string? CreatedBy { get; init; }
}
