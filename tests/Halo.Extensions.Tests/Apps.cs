using Halo.Client;
using Halo.Extensions.Hosting;
using Halo.Extensions.ServiceDiscovery;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;

namespace Halo.Client.Tests;

/// <summary>Real ASP.NET Core applications on free loopback ports, using only the packages' public API.</summary>
internal static class Apps
{
    /// <summary>A service that registers itself as <paramref name="service"/>; its health check answers what <paramref name="healthy"/> says.</summary>
    public static async Task<WebApplication> StartServiceAsync(Uri server, string service, string name, Func<bool>? healthy = null,
        Action<HaloRegistrationOptions>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
        builder.Services.AddHealthChecks().AddCheck("self", () => healthy is null || healthy() ? HealthCheckResult.Healthy() : HealthCheckResult.Unhealthy("told to"));
        builder.Services.AddHaloClient(o => o.Server = server.ToString());
        builder.Services.AddHaloRegistration(o =>
        {
            o.Service = service;
            o.InstanceId = name;
            o.HeartbeatInterval = TimeSpan.FromMilliseconds(300);
            o.HealthCheckInterval = TimeSpan.FromMilliseconds(200);
            // Time for the caller's discovery to see the drain through the feed, on a machine starved by stress-ng too.
            o.DrainDelay = TimeSpan.FromMilliseconds(1500);
            o.DrainTimeout = TimeSpan.FromSeconds(5);
            configure?.Invoke(o);
        });
        var app = builder.Build();
        app.MapGet("/", () => name);
        app.MapGet("/slow", async () =>
        {
            await Task.Delay(300);
            return name;
        });
        await app.StartAsync();
        return app;
    }

    /// <summary>
    /// A caller that reaches services by name (<c>http://web</c>) through Halo discovery, balancing with the Halo.Core policy
    /// <paramref name="balancing"/>; <paramref name="sent"/> sees each attempt after the instance was chosen.
    /// </summary>
    public static async Task<(WebApplication App, HttpClient Client)> StartCallerAsync(Uri server, string service, int retries = 0,
        string balancing = "round-robin", Action<Uri>? sent = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
        builder.Services.AddHaloClient(o => o.Server = server.ToString());
        builder.Services.AddHaloServiceDiscovery(o => o.Balancing = balancing);
        var client = builder.Services.AddHttpClient("callee", c => c.BaseAddress = new Uri($"http://{service}"));
        if (retries > 0)
        {
            // Outside the discovery handler, so each try chooses an instance afresh.
            client.AddHttpMessageHandler(() => new RetryHandler(retries));
        }

        client.AddHaloServiceDiscovery();
        if (sent is not null)
        {
            client.AddHttpMessageHandler(() => new Observer(sent));
        }

        var app = builder.Build();
        await app.StartAsync();
        return (app, app.Services.GetRequiredService<IHttpClientFactory>().CreateClient("callee"));
    }

    /// <summary>An app that is not Halo-aware (the test registers and heartbeats for it): it answers its name with <paramref name="status"/>.</summary>
    public static async Task<WebApplication> StartPlainAsync(string name, int status = 200)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
        var app = builder.Build();
        app.MapGet("/", () => Results.Text(name, statusCode: status));
        await app.StartAsync();
        return app;
    }

    /// <summary>Sees where each attempt goes (inside the discovery handler, so after the instance was chosen).</summary>
    private sealed class Observer(Action<Uri> sent) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            sent(request.RequestUri!);
            return base.SendAsync(request, cancellationToken);
        }
    }

    /// <summary>Tries a request again when it could not connect (an idempotent GET in these tests).</summary>
    private sealed class RetryHandler(int retries) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            for (var attempt = 0; ; attempt++)
            {
                try
                {
                    return await base.SendAsync(request, cancellationToken);
                }
                catch (HttpRequestException) when (attempt < retries)
                {
                }
            }
        }
    }

    public static Uri Address(WebApplication app) => Halo.Server.HaloServerHost.Address(app);

    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var deadline = TimeProvider.System.GetTimestamp();
        while (!await condition())
        {
            if (TimeProvider.System.GetElapsedTime(deadline) > timeout)
            {
                throw new TimeoutException($"timed out after {timeout.TotalSeconds}s waiting for {what}");
            }

            await Task.Delay(50);
        }
    }
}
