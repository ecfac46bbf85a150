using Halo.Client;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

using Halo.Extensions.Hosting;

// In the namespace of IHostApplicationBuilder, as ASP.NET Core's own extensions are: found without a using.
namespace Microsoft.Extensions.Hosting;

/// <summary>Adds Halo self-registration to an ASP.NET Core application.</summary>
public static class HaloHostingExtensions
{
    /// <summary>
    /// Registers this application with Halo on start, heartbeats, maps its health checks, drains and deregisters on stop.
    /// Binds the "Halo" configuration section (Server, Token, Service, Addresses, HeartbeatInterval, ...); the service
    /// name defaults to the application name. Bad settings fail the host at start, naming the key.
    /// </summary>
    public static IHostApplicationBuilder AddHaloRegistration(this IHostApplicationBuilder builder, Action<HaloRegistrationOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var section = builder.Configuration.GetSection("Halo");
        builder.Services.Configure<HaloConnectionOptions>(section);
        builder.Services.AddOptions<HaloRegistrationOptions>()
            .Configure(o => o.Service ??= builder.Environment.ApplicationName)
            .Bind(section);
        HaloRegistrationServiceCollectionExtensions.AddHaloRegistration(builder.Services, configure);
        return builder;
    }
}

