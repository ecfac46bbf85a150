using Halo.Client;
using Halo.Core.Balancing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers one <see cref="HaloClient"/> for an application, configured by <see cref="HaloConnectionOptions"/> and validated at start.</summary>
public static class HaloClientServiceCollectionExtensions
{
    /// <summary>
    /// Adds a singleton <see cref="HaloClient"/> (TryAdd: a registration made before wins) and validates its options when
    /// the host starts, naming the bad key. Time and randomness come from the container when registered there.
    /// </summary>
    public static IServiceCollection AddHaloClient(this IServiceCollection services, Action<HaloConnectionOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.AddOptions<HaloConnectionOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<HaloConnectionOptions>, HaloConnectionOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IRandomFactory, SystemRandomFactory>();
        services.TryAddSingleton(sp => new HaloClient(
            sp.GetRequiredService<IOptions<HaloConnectionOptions>>().Value.ToClientOptions(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<IRandomFactory>()));
        return services;
    }
}
