using Microsoft.AspNetCore.Builder;

namespace Halo.Server.Security;

/// <summary>
/// What a route requires, carried as endpoint metadata so the access check, the docs and the route-table test read one
/// declaration. <see cref="Role"/> null means anonymous (probes, the dashboard's static files). The value names say
/// which route value holds the service, group or member a scoped token must cover.
/// </summary>
public sealed record RouteAccess(HaloRole? Role, string? Service = null, string? Group = null, string? Member = null)
{
    public static RouteAccess Anonymous { get; } = new((HaloRole?)null);

    /// <summary>A <see cref="Service"/> value meaning "the handler checks each service it is asked about" (batch calls).</summary>
    public const string CheckedByHandler = "*";

    /// <summary>/metrics: `read`, or anonymous when the server runs with --metrics-anonymous.</summary>
    public bool IsMetrics { get; init; }

    /// <summary>Whether a successful mutating call here becomes an audit event. Heartbeats and reports are not audited.</summary>
    public bool Audited { get; init; } = true;
}

/// <summary>Declares a route's access when it is mapped: every route must, or the server refuses to start.</summary>
public static class RouteAccessExtensions
{
    public static TBuilder RequireRole<TBuilder>(
        this TBuilder builder, HaloRole role, string? service = null, string? group = null, string? member = null, bool audited = true)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new RouteAccess(role, service, group, member) { Audited = audited });

    public static TBuilder AllowAnonymousAccess<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(RouteAccess.Anonymous);
}
