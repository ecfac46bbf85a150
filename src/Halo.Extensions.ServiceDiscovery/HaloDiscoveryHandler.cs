using Halo.Core.Balancing;
using Halo.Core.Registry;
using Microsoft.Extensions.Options;

namespace Halo.Extensions.ServiceDiscovery;

/// <summary>
/// Sends a request for <c>http://name</c> to one routable instance of Halo service <c>name</c>, chosen by
/// <see cref="HaloBalancer"/>; feeds the instance's load signals and counts the outcome for the caller report, as the
/// gateway does for the requests it proxies. Hosts that are not Halo service names, or services Halo does not know, pass
/// through untouched (so <c>http://localhost:5000</c> keeps working once the catalog is read). Before the first catalog
/// read a request fails with the reason (token scope, server away) rather than a misleading DNS error.
/// </summary>
internal sealed class HaloDiscoveryHandler(
    HaloServiceCatalog catalog, HaloBalancer balancer, HaloCallerReports reports, IOptions<HaloDiscoveryOptions> options, TimeProvider time)
    : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var original = request.RequestUri;
        if (original is not { IsAbsoluteUri: true } || !Names.IsValid(original.Host))
        {
            return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }

        if (!await catalog.WaitForFirstAsync(options.Value.InitialWait, time, cancellationToken).ConfigureAwait(false))
        {
            // Passing the name on would end in a DNS error ("Name or service not known") that hides the reason.
            throw new HttpRequestException(HttpRequestError.NameResolutionError,
                $"Halo discovery cannot resolve '{original.Host}': no catalog read from Halo yet ({catalog.LastError ?? "no answer within Halo:Discovery:InitialWait"})");
        }

        if (!catalog.Knows(original.Host))
        {
            return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }

        var choice = balancer.Pick(original.Host)
            ?? throw new HttpRequestException(HttpRequestError.NameResolutionError, $"Halo has no passing instance of service '{original.Host}'");
        var instance = choice.Instance;
        request.RequestUri = new UriBuilder(original) { Host = instance.Address, Port = instance.Port }.Uri;
        var destination = choice.Destination;
        var started = time.GetTimestamp();
        FailureKind? outcome = FailureKind.Connect;
        destination.Begin();
        try
        {
            var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            outcome = (int)response.StatusCode >= 500 ? FailureKind.ServerError : FailureKind.None;
            return response;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            outcome = FailureKind.Timeout; // HttpClient.Timeout, not the caller giving up
            throw;
        }
        catch (OperationCanceledException)
        {
            outcome = null; // the caller gave up: says nothing about the instance
            throw;
        }
        finally
        {
            destination.End();
            if (outcome is { } kind)
            {
                destination.Latency.Observe(time.GetElapsedTime(started), kind != FailureKind.None);
                reports.Record(instance.Service, instance.Id, kind);
            }

            // A retry outside this handler resolves the name again rather than going back to the same instance.
            request.RequestUri = original;
        }
    }
}
