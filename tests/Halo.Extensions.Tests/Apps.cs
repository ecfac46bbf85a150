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
            o.HeartbeatInterval = TimeSpan.FromMilliseconds(200);
            o.HealthCheckInterval = TimeSpan.FromMilliseconds(200);
            o.DrainDelay = TimeSpan.FromMilliseconds(500);
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

    /// <summary>A caller that reaches services by name (<c>http://web</c>) through Halo discovery.</summary>
    public static async Task<(WebApplication App, HttpClient Client)> StartCallerAsync(Uri server, string service)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
        builder.Services.AddHaloClient(o => o.Server = server.ToString());
        builder.Services.AddHaloServiceDiscovery();
        builder.Services.AddHttpClient("callee", c => c.BaseAddress = new Uri($"http://{service}")).AddServiceDiscovery();
        var app = builder.Build();
        await app.StartAsync();
        return (app, app.Services.GetRequiredService<IHttpClientFactory>().CreateClient("callee"));
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
