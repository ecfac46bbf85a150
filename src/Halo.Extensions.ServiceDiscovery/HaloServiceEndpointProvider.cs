using System.Net;
using Halo.Core.Registry;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.ServiceDiscovery;

namespace Halo.Extensions.ServiceDiscovery;

/// <summary>Options of Halo service discovery.</summary>
public sealed class HaloDiscoveryOptions
{
    /// <summary>How long the first resolution waits for the first catalog read before answering with no endpoints. Default 5 s.</summary>
    public TimeSpan InitialWait { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>
/// Resolves <c>http://name</c> to Halo's passing, non-draining instances of service <c>name</c>, kept current by
/// <see cref="HaloServiceCatalog"/>; names that are not valid Halo service names are left to other providers.
/// </summary>
public sealed class HaloServiceEndpointProviderFactory(HaloServiceCatalog catalog, IOptions<HaloDiscoveryOptions> options, TimeProvider time)
    : IServiceEndpointProviderFactory
{
    /// <inheritdoc />
    public bool TryCreateProvider(ServiceEndpointQuery query, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IServiceEndpointProvider? provider)
    {
        ArgumentNullException.ThrowIfNull(query);
        provider = Names.IsValid(query.ServiceName) ? new Provider(query.ServiceName, catalog, options.Value, time) : null;
        return provider is not null;
    }

    private sealed class Provider(string service, HaloServiceCatalog catalog, HaloDiscoveryOptions options, TimeProvider time) : IServiceEndpointProvider
    {
        public async ValueTask PopulateAsync(IServiceEndpointBuilder endpoints, CancellationToken cancellationToken)
        {
            await catalog.WaitForFirstAsync(options.InitialWait, time, cancellationToken).ConfigureAwait(false);
            // Take the token before reading the set: a change between the two then fires it rather than being missed.
            endpoints.AddChangeToken(catalog.ChangeToken());
            foreach (var instance in catalog.Routable(service))
            {
                EndPoint endpoint = IPAddress.TryParse(instance.Address, out var ip) ? new IPEndPoint(ip, instance.Port) : new DnsEndPoint(instance.Address, instance.Port);
                var found = ServiceEndpoint.Create(endpoint);
                found.Features.Set(new HaloInstanceFeature(instance.Service, instance.Id));
                endpoints.Endpoints.Add(found);
            }
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;

        public override string ToString() => "Halo";
    }
}

/// <summary>Which Halo instance an endpoint is (on each resolved <see cref="ServiceEndpoint"/>'s features).</summary>
public sealed record HaloInstanceFeature(string Service, string Id);
