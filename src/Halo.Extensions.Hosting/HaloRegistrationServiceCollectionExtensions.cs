using Halo.Extensions.Hosting;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

// In the namespace of IServiceCollection, as the framework's own extensions are: found without a using.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds Halo self-registration to an ASP.NET Core application's services.</summary>
public static class HaloRegistrationServiceCollectionExtensions
{
    /// <summary>The same as <c>builder.AddHaloRegistration()</c> without binding the "Halo" configuration section.</summary>
    public static IServiceCollection AddHaloRegistration(this IServiceCollection services, Action<HaloRegistrationOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddHaloClient();
        var options = services.AddOptions<HaloRegistrationOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<HaloRegistrationOptions>, HaloRegistrationOptionsValidator>());
        services.TryAddSingleton<InFlightRequests>();
        services.TryAddEnumerable(ServiceDescriptor.Transient<IStartupFilter, InFlightStartupFilter>());
        services.TryAddSingleton<HaloRegistrationService>();
        services.AddHostedService(sp => sp.GetRequiredService<HaloRegistrationService>());
        return services;
    }
}
