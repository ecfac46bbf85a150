using System.Net;
using Halo.Core.Balancing;
using Halo.Core.Registry;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.ServiceDiscovery;

namespace Halo.Extensions.ServiceDiscovery;

/// <summary>Options of Halo service discovery (configuration section "Halo:Discovery").</summary>
public sealed class HaloDiscoveryOptions
{
    /// <summary>How long the first resolution waits for the first catalog read before answering with no endpoints. Default 5 s; range 0-1 min.</summary>
    public TimeSpan InitialWait { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Balancing policy of HttpClients that use <c>AddHaloServiceDiscovery()</c>, named as in the gateway's <c>policy:</c>:
    /// round-robin, weighted-round-robin, least-requests, p2c, peak-ewma, consistent-hash (no key on an HttpClient
    /// call, so it places at random), random. Default peak-ewma, as the gateway's.
    /// </summary>
    public string Balancing { get; set; } = "peak-ewma";
}

/// <summary>Checks <see cref="HaloDiscoveryOptions"/> at start; each failure names the option ("Halo:Discovery:Balancing: ...").</summary>
public sealed class HaloDiscoveryOptionsValidator : IValidateOptions<HaloDiscoveryOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, HaloDiscoveryOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        if (!BalancingPolicies.TryParse(options.Balancing, out _))
        {
            failures.Add($"Halo:Discovery:Balancing: '{options.Balancing}' is not one of {BalancingPolicies.Names}");
        }

        if (options.InitialWait < TimeSpan.Zero || options.InitialWait > TimeSpan.FromMinutes(1))
        {
            failures.Add($"Halo:Discovery:InitialWait: {Core.Durations.Format(options.InitialWait)} is out of range 0s-1m");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
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
