using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Halo.Server.Security;

/// <summary>Wires tokens, the access gate and the audit trail into the server.</summary>
internal static partial class SecurityRegistration
{
    public static IServiceCollection AddHaloSecurity(this IServiceCollection services, ServerOptions options)
    {
        var security = options.Security;
        if (security.AllowAnonymous && !SecurityOptions.IsLoopback(options.Listen))
        {
            throw new ArgumentException(
                $"--insecure-allow-anonymous is refused on {options.Listen}: anonymous access is allowed on a loopback address only", nameof(options));
        }

        if (security.AuthFailuresPerSource < 1)
        {
            throw new ArgumentException("Security.AuthFailuresPerSource must be at least 1", nameof(options));
        }

        if (security.Limits.Validate() is { Count: > 0 } limitErrors)
        {
            throw new ArgumentException(
                "server.limits: " + string.Join("; ", limitErrors.Select(e => $"{e.Field}: {e.Message}")), nameof(options));
        }

        services.AddSingleton(security);
        // Built now, so a bad server.checks.allowedNetworks entry stops the start rather than the first check.
        services.AddSingleton(new CheckNetworkPolicy(security, options));
        services.AddSingleton<StreamSlots>();
        services.AddHaloRequestLimits(security.Limits);
        services.AddSingleton<HostAllowList>();
        services.AddSingleton<TokenService>();
        services.AddSingleton<AuthFailureLimiter>();
        services.AddSingleton<SecurityMetrics>();
        services.AddSingleton<SecurityState>();
        services.AddSingleton<Audit>();
        services.AddHostedService<TokenFollower>();
        services.AddHttpClient(Halo.Server.Cluster.HeartbeatForwarder.HttpClientName).ConfigureHttpClient((sp, http) =>
        {
            if (sp.GetRequiredService<SecurityState>().PeerSecret is { } secret)
            {
                http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", secret);
            }
        });
        return services;
    }

    /// <summary>Routing first, so the gate knows the endpoint and its declared access; the endpoints run after it.</summary>
    public static void UseHaloSecurity(this WebApplication app)
    {
        app.UseRouting();
        app.UseMiddleware<AccessMiddleware>();
        // After the gate: the per-token bucket needs the authenticated caller.
        app.UseRateLimiter();
    }

    /// <summary>Fails the start when any route lacks a <see cref="RouteAccess"/>: an undeclared route is a hole, not a default.</summary>
    public static void EnsureEveryRouteDeclaresAccess(IEndpointRouteBuilder app)
    {
        var undeclared = app.DataSources.SelectMany(d => d.Endpoints).OfType<RouteEndpoint>()
            .Where(e => e.Metadata.GetMetadata<RouteAccess>() is null)
            .Select(e => e.RoutePattern.RawText).ToList();
        if (undeclared.Count > 0)
        {
            throw new InvalidOperationException($"routes without a declared role (RequireRole / AllowAnonymousAccess): {string.Join(", ", undeclared)}");
        }
    }

    /// <summary>Loads the tokens and makes sure an admin can get in: the bootstrap token file, read or written.</summary>
    public static async Task LoadSecurityAsync(this WebApplication app, ServerOptions options, CancellationToken ct)
    {
        var tokens = app.Services.GetRequiredService<TokenService>();
        var state = app.Services.GetRequiredService<SecurityState>();
        state.LoadedRevision = await tokens.LoadAsync(ct).ConfigureAwait(false);
        if (options.Security.AllowAnonymous)
        {
            LogAnonymous(app.Logger, options.Listen);
            return;
        }

        var path = Path.GetFullPath(options.Security.BootstrapTokenFile ?? Path.Combine(options.DataDirectory, BootstrapToken.FileName));
        await BootstrapToken.EnsureAsync(tokens, path, ct).ConfigureAwait(false);
        state.BootstrapTokenFile = path;
        state.PeerSecret = (await File.ReadAllTextAsync(path, ct).ConfigureAwait(false)).Trim();
        LogBootstrap(app.Logger, path);
    }

    [LoggerMessage(EventId = 1600, Level = LogLevel.Warning,
        Message = "Authentication is OFF (--insecure-allow-anonymous): any local process that reaches {Listen} acts as admin")]
    private static partial void LogAnonymous(ILogger logger, string listen);

    [LoggerMessage(EventId = 1603, Level = LogLevel.Information, Message = "Authentication is on; the bootstrap admin token is in {Path}")]
    private static partial void LogBootstrap(ILogger logger, string path);
}
