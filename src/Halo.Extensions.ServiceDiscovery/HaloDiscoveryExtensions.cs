using Halo.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.ServiceDiscovery;

using Halo.Extensions.ServiceDiscovery;

// In the namespace of IServiceCollection, as the framework's own extensions are: found without a using.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds Halo as a Microsoft.Extensions.ServiceDiscovery endpoint provider (for HttpClient and YARP).</summary>
public static class HaloDiscoveryExtensions
{
    /// <summary>
    /// Makes <c>http://name</c> resolve through Halo for every client that uses service discovery (<c>AddServiceDiscovery()</c>,
    /// and YARP with <c>AddServiceDiscoveryDestinationResolver()</c>). Configure the connection with <c>AddHaloClient</c> or the
    /// "Halo" section (see <see cref="HaloConnectionOptions"/>).
    /// </summary>
    public static IServiceCollection AddHaloServiceDiscovery(this IServiceCollection services, Action<HaloDiscoveryOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddHaloClient();
        var options = services.AddOptions<HaloDiscoveryOptions>().BindConfiguration("Halo:Discovery");
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<HaloDiscoveryOptions>, HaloDiscoveryOptionsValidator>());

        services.AddServiceDiscoveryCore();
        services.TryAddSingleton<HaloServiceCatalog>();
        services.AddHostedService(sp => sp.GetRequiredService<HaloServiceCatalog>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IServiceEndpointProviderFactory, HaloServiceEndpointProviderFactory>());
        services.TryAddSingleton<HaloBalancer>();
        services.TryAddSingleton<HaloCallerReports>();
        services.AddHostedService(sp => sp.GetRequiredService<HaloCallerReports>());
        return services;
    }

    /// <summary>
    /// Sends this client's requests for <c>http://name</c> to Halo's routable instances of service <c>name</c>, chosen by the
    /// Halo.Core policy in <see cref="HaloDiscoveryOptions.Balancing"/>, and reports failed requests to Halo as
    /// caller-observed health, as the gateway does. Use it instead of <c>AddServiceDiscovery()</c> on the client (that one
    /// resolves through Halo too, but balances round robin and reports nothing). A retry handler added before it makes
    /// each try choose afresh. Other host names pass through untouched.
    /// </summary>
    public static IHttpClientBuilder AddHaloServiceDiscovery(this IHttpClientBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddHttpMessageHandler(sp => new HaloDiscoveryHandler(sp.GetRequiredService<HaloServiceCatalog>(), sp.GetRequiredService<HaloBalancer>(),
            sp.GetRequiredService<HaloCallerReports>(), sp.GetRequiredService<IOptions<HaloDiscoveryOptions>>(), sp.GetRequiredService<TimeProvider>()));
    }
}
