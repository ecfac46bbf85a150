using Halo.Server.Availability;
using Halo.Server.Dashboard;
using Halo.Server.Telemetry;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Halo.Server.Alerts;

/// <summary>Registers and maps the monitoring pieces: alert delivery, store probe, availability API and dashboard.</summary>
internal static class MonitoringRegistration
{
    /// <summary>Validates <see cref="ServerOptions.Alerts"/> at start-up, so a bad webhook URL fails the boot, not the first page.</summary>
    public static IServiceCollection AddHaloMonitoring(this IServiceCollection services, ServerOptions options)
    {
        var errors = options.Alerts.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException("invalid alert options: " + string.Join("; ", errors.Select(e => $"{e.Field}: {e.Message}")), nameof(options));
        }

        services.TryAddSingleton(options.Alerts);
        services.TryAddSingleton<MonitoringMetrics>();
        services.TryAddSingleton<WebhookSender>();
        services.AddHostedService<AlertDispatcher>();
        services.TryAddSingleton<StoreProbe>();
        services.AddHostedService(sp => sp.GetRequiredService<StoreProbe>());
        services.AddHttpClient(WebhookSender.HttpClientName, c => c.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { UseProxy = false, PooledConnectionLifetime = TimeSpan.FromMinutes(1) });
        return services;
    }

    public static void MapHaloMonitoring(this IEndpointRouteBuilder app)
    {
        app.MapAvailability();
        app.MapDashboard();
    }
}
