using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Halo.Extensions.Hosting;

/// <summary>Counts requests being served, so a graceful stop can wait for them before deregistering.</summary>
public sealed class InFlightRequests
{
    private int _count;

    /// <summary>Requests being served now.</summary>
    public int Count => Volatile.Read(ref _count);

    internal void Enter() => Interlocked.Increment(ref _count);

    internal void Leave() => Interlocked.Decrement(ref _count);
}

/// <summary>Puts the in-flight counter first in the pipeline, so every request is counted whatever the app maps.</summary>
internal sealed class InFlightStartupFilter(InFlightRequests inFlight) : IStartupFilter
{
    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.Use(async (HttpContext context, RequestDelegate nextMiddleware) =>
        {
            inFlight.Enter();
            try
            {
                await nextMiddleware(context);
            }
            finally
            {
                inFlight.Leave();
            }
        });
        next(app);
    };
}
