using Halo.Core.Balancing;
using Halo.Gateway.Configuration;
using Halo.Gateway.Feed;
using Halo.Gateway.Health;
using Halo.Gateway.Proxy;
using Halo.Gateway.Proxy.Http1;
using Halo.Gateway.Routing;
using Halo.Gateway.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;

namespace Halo.Gateway;

/// <summary>Entry point of the <c>halo gateway</c> role.</summary>
public static class GatewayHost
{
    /// <summary>
    /// Loads the config, starts the gateway and runs until <paramref name="ct"/> is cancelled or the
    /// process is asked to stop. Returns 0 on a clean stop, 2 for an invalid config (message on stderr
    /// naming the field).
    /// </summary>
    public static async Task<int> RunAsync(GatewayCommandLine opts, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(opts);
        UseInlineSocketCompletions();
        GatewaySettings settings;
        try
        {
            Proxy.Engine.EventLoopGroup.Validate(Environment.GetEnvironmentVariable(Proxy.Engine.EventLoopGroup.Variable));
            if (string.IsNullOrWhiteSpace(opts.ConfigPath))
            {
                throw new GatewayConfigException("config", "a config file is required (halo gateway --config gateway.yaml)");
            }

            settings = GatewayConfigLoader.LoadFile(opts.ConfigPath, opts.Listen, opts.Server);
            if (opts.Client is { } client)
            {
                client.Server = string.Join(',', settings.Servers);
                settings = settings with { Client = new Halo.Client.HaloClientOptionsBuilder().Build(client) };
            }

            if (opts.Https is { } https)
            {
                settings = settings with { Https = https(settings.Tls) };
            }
        }
        catch (GatewayConfigException ex)
        {
            await Console.Error.WriteLineAsync(ex.Message);
            return 2;
        }
        catch (Halo.Client.HaloOptionsException ex)
        {
            await Console.Error.WriteLineAsync("halo gateway: " + ex.Message);
            return 2;
        }

        await using var app = Build(settings);
        try
        {
            await app.StartAsync(ct);
        }
        catch (IOException ex)
        {
            await Console.Error.WriteLineAsync($"halo gateway: cannot listen on {settings.Listen}: {ex.Message}");
            return 1;
        }

        var addresses = Addresses(app).ToList();
        // Kestrel lists its endpoints in the order they were configured: the proxy listener, then the admin one.
        foreach (var address in settings.AdminListen is null ? addresses : addresses.Take(1))
        {
            Log.Listening(app.Logger, address);
            // Printed, not only logged: scripts and tests read the bound port from stdout when --listen used port 0.
            await Console.Out.WriteLineAsync($"halo gateway listening on {address}");
        }

        foreach (var address in settings.AdminListen is null ? [] : addresses.Skip(1))
        {
            await Console.Out.WriteLineAsync($"halo gateway admin (metrics) on {address}{settings.MetricsPath}");
        }

        await Console.Out.FlushAsync(ct);
        try
        {
            await app.WaitForShutdownAsync(ct);
        }
        catch (OperationCanceledException)
        {
        }

        await app.StopAsync(CancellationToken.None);
        return 0;
    }

    private const string InlineCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>
    /// The gateway process runs socket continuations inline on the socket event threads (one per CPU) instead of queueing
    /// each to the thread pool: a proxied request is then read, forwarded and answered on the thread that saw its bytes
    /// arrive, without a thread switch per socket event, the way an event-loop proxy (HAProxy, nginx) works. Measured:
    /// 24 % less CPU per request on one CPU (docs/BENCHMARKS.md, "2026-11-29 second run"), 1.9 -> 0.6 context switches
    /// per request on two.
    /// With the proxying on the event threads, the thread pool only wakes for timers (health ticks, probes); each
    /// time, its worker spins (sched_yield) before sleeping, by default, which on two CPUs cost 16 % of the gateway's
    /// CPU per request (docs/BENCHMARKS.md, Gateway, 2026-11-29 session 7). The gateway turns that spinning off.
    /// Set by the binary so users need no environment variable; the runtime reads it once, when the first socket
    /// is created, hence before any. A value the user set is kept ("0" turns it off).
    /// Safe because nothing on the gateway's socket paths blocks a thread (no sync-over-async).
    /// </summary>
    internal static void UseInlineSocketCompletions()
    {
        if (Environment.GetEnvironmentVariable(InlineCompletionsVariable) is null)
        {
            Environment.SetEnvironmentVariable(InlineCompletionsVariable, "1");
        }

        // Read (through Environment, so a process-local value counts) when the thread pool's first worker starts.
        if (Environment.GetEnvironmentVariable(SpinLimitVariable) is null)
        {
            Environment.SetEnvironmentVariable(SpinLimitVariable, "0");
        }
    }

    private const string SpinLimitVariable = "DOTNET_ThreadPool_UnfairSemaphoreSpinLimit";

    /// <summary>Builds the gateway web application; <paramref name="configure"/> may replace services (tests inject time and randomness).</summary>
    public static WebApplication Build(GatewaySettings settings, Action<IServiceCollection>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Logging.AddFilter("System.Net.Http", LogLevel.Warning);
        // YARP logs every failed attempt; the proxy loop handles (retries) those and logs ejections itself.
        builder.Logging.AddFilter("Yarp", LogLevel.Warning);
        // With inline socket completions (set by RunAsync), Kestrel's transport and pipes run their continuations
        // inline too, so the fast path's reads and writes never wait in a queue for a thread-pool thread.
        builder.WebHost.UseSockets(o =>
        {
            o.UnsafePreferInlineScheduling = Environment.GetEnvironmentVariable(InlineCompletionsVariable) == "1";
            // Kestrel's default first waits for data with a zero-byte receive, then receives into a pooled buffer: one
            // more syscall per request, to save a 4 KiB pooled buffer per idle connection. A proxy's connections are
            // busy; HAProxy and nginx keep a buffer per connection too.
            o.WaitForDataBeforeAllocatingBuffer = false;
        });
        if (Proxy.Engine.EventLoopGroup.IsEnabled)
        {
            // With HALO_GATEWAY_ENGINE=epoll (Linux) the gateway's own socket engine carries its TCP listeners (Kestrel
            // prefers the transport registered last that can bind the endpoint).
            builder.Services.AddSingleton<Microsoft.AspNetCore.Connections.IConnectionListenerFactory, Proxy.Engine.LoopTransportFactory>();
        }

        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            // A proxy streams bodies through; the backend, not the gateway, decides how large is too large.
            k.Limits.MaxRequestBodySize = null;
            // Plain HTTP/1.1 requests take the fast path; it hands anything else to Kestrel and YARP.
            k.Listen(settings.Listen, listen =>
            {
                if (settings.Https is { } https)
                {
                    // TLS first: the fast path sees the handshake feature and leaves TLS connections to Kestrel and YARP.
                    listen.UseHttps(https);
                }

                listen.Use(next =>
                {
                    var fastPath = listen.ApplicationServices.GetRequiredService<Http1FastPath>();
                    return connection => fastPath.OnConnectionAsync(connection, next);
                });
            });
            if (settings.AdminListen is { } admin)
            {
                // Metrics on their own port, which the firewall keeps private; the connection is marked so only it serves them.
                k.Listen(admin, listen => listen.Use(next => connection =>
                {
                    connection.Items[AdminConnection] = true;
                    return next(connection);
                }));
            }
        });

        configure?.Invoke(builder.Services);
        AddHaloGateway(builder.Services, settings);
        var app = builder.Build();

        var holder = app.Services.GetRequiredService<RoutingTableHolder>();
        // Static clusters are routable at once; registry clusters fill in as the feed arrives.
        holder.Publish(app.Services.GetRequiredService<RoutingTableBuilder>().Build([], 0));

        if (settings.AdminListen is null)
        {
            app.MapPrometheusScrapingEndpoint(settings.MetricsPath);
        }
        else
        {
            // On the proxy port the path is just another request for the backends.
            app.UseOpenTelemetryPrometheusScrapingEndpoint(context => IsAdmin(context) && context.Request.Path == settings.MetricsPath);
            app.Use(async (context, next) =>
            {
                if (IsAdmin(context))
                {
                    context.Response.StatusCode = StatusCodes.Status404NotFound; // the admin port proxies nothing
                    return;
                }

                await next(context);
            });
        }

        var proxy = app.Services.GetRequiredService<ProxyMiddleware>();
        app.Use(proxy.InvokeAsync);
        return app;
    }

    private const string AdminConnection = "halo.gateway.admin";

    private static bool IsAdmin(HttpContext context) =>
        context.Features.Get<Microsoft.AspNetCore.Connections.Features.IConnectionItemsFeature>()?.Items.ContainsKey(AdminConnection) == true;

    /// <summary>Registers the gateway's services (TryAdd, so callers can substitute time, randomness or the forwarder).</summary>
    public static IServiceCollection AddHaloGateway(IServiceCollection services, GatewaySettings settings)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IRandomFactory, SystemRandomFactory>();
        services.AddSingleton(settings);
        services.AddMetrics();
        services.TryAddSingleton<GatewayMetrics>();
        services.TryAddSingleton<RoutingTableHolder>();
        services.TryAddSingleton(sp =>
        {
            var time = sp.GetRequiredService<TimeProvider>();
            var metrics = sp.GetRequiredService<GatewayMetrics>();
            var logger = sp.GetRequiredService<ILoggerFactory>().CreateLogger<ClusterRuntime>();
            return new RoutingTableBuilder(settings, time, c => new ClusterRuntime(c, time, metrics, logger));
        });
        services.TryAddSingleton<ForwarderClients>();
        services.TryAddSingleton<ProxyMiddleware>();
        services.TryAddSingleton(new ForwardedHeaders(settings.TrustedProxies));
        services.TryAddSingleton<Http1FastPath>();
        services.AddHttpForwarder();
        services.TryAddSingleton(sp => new Halo.Client.HaloClient(settings.ClientOptions, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<IRandomFactory>()));
        services.AddSingleton<CatalogFeed>();
        services.AddHostedService(sp => sp.GetRequiredService<CatalogFeed>());
        services.AddSingleton<HealthService>();
        services.AddHostedService(sp => sp.GetRequiredService<HealthService>());
        services.AddSingleton<FailureReporter>();
        services.AddHostedService(sp => sp.GetRequiredService<FailureReporter>());
        services.AddOpenTelemetry().WithMetrics(m => m.AddMeter(GatewayMetrics.MeterName).AddPrometheusExporter());
        return services;
    }

    /// <summary>The addresses Kestrel bound (with the real port when 0 was asked for).</summary>
    public static IReadOnlyCollection<string> Addresses(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.ToList() ?? [];
    }
}
