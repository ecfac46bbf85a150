using Halo.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
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
        var options = services.AddOptions<HaloDiscoveryOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.AddServiceDiscoveryCore();
        services.TryAddSingleton<HaloServiceCatalog>();
        services.AddHostedService(sp => sp.GetRequiredService<HaloServiceCatalog>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IServiceEndpointProviderFactory, HaloServiceEndpointProviderFactory>());
        services.TryAddSingleton<HaloCallerReports>();
        services.AddHostedService(sp => sp.GetRequiredService<HaloCallerReports>());
        return services;
    }

    /// <summary>
    /// Reports this client's failed requests to Halo as caller-observed health (as the gateway does). Add it after
    /// <c>AddServiceDiscovery()</c>, so it sees the instance each request went to.
    /// </summary>
    public static IHttpClientBuilder AddHaloCallerReports(this IHttpClientBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddHttpMessageHandler(sp => new CallerReportHandler(sp.GetRequiredService<HaloCallerReports>(), sp.GetRequiredService<HaloServiceCatalog>()));
    }
}
