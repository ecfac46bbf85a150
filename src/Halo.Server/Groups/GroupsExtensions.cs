using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using OpenTelemetry.Metrics;

namespace Halo.Server.Groups;

/// <summary>Adds primary/replica failover groups to a control-plane server.</summary>
public static class GroupsExtensions
{
    public static IServiceCollection AddHaloGroups(this IServiceCollection services, GroupsOptions? options = null)
    {
        services.TryAddSingleton(options ?? new GroupsOptions());
        services.TryAddSingleton<GroupMetrics>();
        services.TryAddSingleton<GroupRegistry>();
        services.TryAddSingleton<GroupController>();
        services.TryAddSingleton<GroupRouter>();
        services.AddHostedService(sp => sp.GetRequiredService<GroupController>());
        services.ConfigureOpenTelemetryMeterProvider(m => m.AddMeter(GroupMetrics.MeterName));
        return services;
    }
}
