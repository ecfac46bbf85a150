using System.Net;
using Microsoft.AspNetCore.Http;

namespace Halo.Server.Security;

/// <summary>Who made a request, once authenticated: what the handlers check scope against and what audit records.</summary>
public sealed record Caller(string Name, HaloRole Role, IReadOnlyList<string>? Services, IReadOnlyList<string>? Groups, string? Member)
{
    /// <summary>The caller when the server runs with --insecure-allow-anonymous (loopback only).</summary>
    public static Caller Anonymous { get; } = new("anonymous", HaloRole.Admin, null, null, null);

    public static Caller FromToken(TokenRecord token) => new(token.Name, token.Role, token.Services, token.Groups, token.Member);

    public bool CoversService(string service) => Services is null || Services.Contains(service, StringComparer.Ordinal);

    public bool CoversGroup(string group) => (Groups is null || Groups.Contains(group, StringComparer.Ordinal))
        && (Member is null || Member.StartsWith(group + "/", StringComparison.Ordinal));

    public bool IsScoped => Services is not null || Groups is not null || Member is not null;

    /// <summary>The authenticated caller of <paramref name="context"/>, or null on an anonymous route.</summary>
    public static Caller? Of(HttpContext context) => context.Features.Get<Caller>();

    /// <summary>The peer's address as audit records it (IPv4-mapped addresses shown as IPv4).</summary>
    public static string Address(HttpContext context) =>
        context.Connection.RemoteIpAddress is { } ip ? (ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip).ToString() : "unknown";

    public static IPAddress? Ip(HttpContext context) =>
        context.Connection.RemoteIpAddress is { } ip ? (ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip) : null;
}
