using Halo.Core.Serialization;
using Halo.Server.Alerts;
using Halo.Server.Api;
using Halo.Server.Cluster;
using Halo.Server.Detection;
using Halo.Server.Events;
using Halo.Server.Groups;
using Halo.Server.Registry;
using Halo.Server.Security;
using Halo.Server.Telemetry;
using Halo.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;

namespace Halo.Server;

/// <summary>Composes the control plane: store, registry, detector loops, API, metrics.</summary>
public static class HaloServerHost
{
    /// <summary>
    /// Builds a server over <paramref name="store"/> and loads its state. The caller owns the store
    /// and starts the returned app (StartAsync / RunAsync).
    /// </summary>
    public static async Task<WebApplication> BuildAsync(
        ServerOptions options, IStore store, TimeProvider? time = null, Action<ILoggingBuilder>? logging = null,
        CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(options.Listen);
        if (options.Https is not null)
        {
            // The slim builder leaves HTTPS out until asked; the certificate comes from options.Https, never from config.
            builder.WebHost.UseKestrelHttpsConfiguration();
        }

        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = Math.Max(options.MaxBatchBodyBytes, options.MaxRequestBodyBytes);
            RequestLimits.ApplyTo(k.Limits, options.Security.Limits);
            if (options.Https is { } https)
            {
                k.ConfigureHttpsDefaults(https);
            }
        });
        // Per-request framework logs would cost more than a heartbeat itself; Halo logs what matters with its own event ids.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        // The same for HttpClientFactory's per-request lines: servers forward heartbeat batches to each other every 50 ms.
        builder.Logging.AddFilter("System.Net.Http.HttpClient", LogLevel.Warning);
        builder.Logging.AddSimpleConsole(c => { c.SingleLine = true; c.TimestampFormat = "HH:mm:ss.fff "; c.UseUtcTimestamp = true; });
        if (logging is not null)
        {
            logging(builder.Logging);
        }

        var services = builder.Services;
        services.AddSingleton(options);
        services.AddSingleton(store);
        services.AddSingleton(time ?? TimeProvider.System);
        services.AddSingleton<RegistryMetrics>();
        services.AddHaloMonitoring(options);
        services.AddHaloSecurity(options);
        services.AddSingleton<ChangeIndex>();
        services.AddSingleton<EventLog>();
        services.AddSingleton<StartupState>();
        services.AddSingleton<ServerMembership>();
        services.AddHostedService(sp => sp.GetRequiredService<ServerMembership>());
        services.AddSingleton<PeerEviction>();
        services.AddSingleton<HeartbeatForwarder>();
        services.AddHostedService(sp => sp.GetRequiredService<HeartbeatForwarder>());
        services.AddHttpClient(HeartbeatForwarder.HttpClientName, c => c.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(1) });
        services.AddSingleton<InstanceRegistry>();
        services.AddSingleton<RegistryFeed>();
        services.AddSingleton<DetectorLoop>();
        services.AddHostedService(sp => sp.GetRequiredService<DetectorLoop>());
        services.AddHostedService<ActiveCheckLoop>();
        services.AddSingleton<StoreFollower>();
        services.AddHostedService(sp => sp.GetRequiredService<StoreFollower>());
        services.AddHostedService<EventPruner>();
        // Checks never follow a redirect (a 3xx fails the check) and dial only allowed networks, judged on the address
        // actually connected to, so neither a Location header nor a rebinding DNS name can point them elsewhere.
        services.AddHttpClient(ActiveCheckLoop.HttpClientName, c => c.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(sp => new SocketsHttpHandler
            {
                UseProxy = false,
                AllowAutoRedirect = false,
                PooledConnectionLifetime = TimeSpan.FromMinutes(1),
                ConnectCallback = async (context, ct) => new System.Net.Sockets.NetworkStream(
                    await sp.GetRequiredService<CheckNetworkPolicy>().ConnectAsync(context.DnsEndPoint.Host, context.DnsEndPoint.Port, ct).ConfigureAwait(false),
                    ownsSocket: true),
            });
        services.AddHaloGroups();
        services.AddProblemDetails();
        services.ConfigureHttpJsonOptions(json =>
        {
            // Responses follow the same conventions as stored records and the docs: enums and durations as strings.
            json.SerializerOptions.DefaultIgnoreCondition = HaloJson.Options.DefaultIgnoreCondition;
            foreach (var converter in HaloJson.Options.Converters)
            {
                json.SerializerOptions.Converters.Add(converter);
            }
        });
        services.AddOpenTelemetry().WithMetrics(m => m
            .AddMeter(RegistryMetrics.MeterName, MonitoringMetrics.MeterName, "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "System.Runtime")
            // No cached scrape answer: a 300 ms cache (the exporter's default) hides a change an operator just caused.
            .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0));

        var app = builder.Build();
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            ExceptionHandler = WriteUnhandledAsync,
            // A store that does not answer is an outage, not a bug: no "unhandled exception" with a stack trace per request;
            // the store probe logs it once (WriteUnhandledAsync reports it there).
            SuppressDiagnosticsCallback = c => c.Exception is StoreUnavailableException,
        });
        app.UseStatusCodePages();
        app.UseHaloSecurity();

        app.MapGet("/healthz", () => TypedResults.Ok(new { status = "ok" })).AllowAnonymousAccess();
        app.MapGet("/readyz", ReadyAsync).AllowAnonymousAccess();
        app.MapHaloMonitoring();
        app.MapPrometheusScrapingEndpoint("/metrics").WithMetadata(new RouteAccess(HaloRole.Read) { IsMetrics = true });
        app.MapRegistry();
        app.MapCluster();
        app.MapSnapshot();
        app.MapEvents();
        app.MapGroups();
        app.MapTokens();
        SecurityRegistration.EnsureEveryRouteDeclaresAccess(app);

        var bound = Halo.Core.Detection.DetectionBound.Compute(options.DefaultDetector);
        if (app.Logger.IsEnabled(LogLevel.Information))
        {
            var total = Halo.Core.Durations.Format(bound.Total);
            var terms = string.Join(" + ", bound.Terms.Select(t => $"{t.Name} {Halo.Core.Durations.Format(t.Value)}"));
            ServerLog.DetectorBound(app.Logger, options.DefaultDetector.Kind, total, terms);
        }

        await app.LoadSecurityAsync(options, cancellationToken).ConfigureAwait(false);
        await app.Services.GetRequiredService<StoreFollower>().LoadAsync(cancellationToken).ConfigureAwait(false);
        return app;
    }

    /// <summary>Where the bootstrap admin token is (null when the server runs anonymous).</summary>
    public static string? BootstrapTokenFile(WebApplication app) => app.Services.GetRequiredService<SecurityState>().BootstrapTokenFile;

    /// <summary>Issues a token directly (for `halo up`, which hosts the server it hands tokens out for); replaces one of the same name.</summary>
    public static async Task<string> IssueTokenAsync(WebApplication app, TokenRecord template, CancellationToken ct)
    {
        var tokens = app.Services.GetRequiredService<TokenService>();
        await tokens.RevokeAsync(template.Name, ct).ConfigureAwait(false);
        var created = await tokens.CreateAsync(template with { CreatedBy = "halo up" }, null, ct).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"token {template.Name} was created concurrently");
        return created.Secret;
    }

    /// <summary>The address the server is actually listening on (resolves port 0).</summary>
    public static Uri Address(WebApplication app) =>
        new(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    private static async Task<IResult> ReadyAsync(IStore store, TimeProvider time, CancellationToken ct)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2), time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
        try
        {
            var revision = await store.GetRevisionAsync(linked.Token).ConfigureAwait(false);
            return TypedResults.Ok(new { status = "ready", revision });
        }
        catch (Exception ex) when (ex is not OperationCanceledException || timeout.IsCancellationRequested)
        {
            return Problems.Unavailable($"the store did not answer: {ex.Message}");
        }
    }

    /// <summary>A store failure is the store's fault, not the caller's: 503, so clients retry elsewhere; anything else is a 500 without internals.</summary>
    private static async Task WriteUnhandledAsync(HttpContext context)
    {
        var error = context.Features.Get<IExceptionHandlerFeature>()?.Error;
        if (error is StoreUnavailableException unavailable)
        {
            context.RequestServices.GetRequiredService<StoreProbe>().RequestFailed(unavailable);
        }

        var (status, title) = error switch
        {
            StoreUnavailableException => (StatusCodes.Status503ServiceUnavailable, "Store unavailable"),
            BadHttpRequestException bad => (bad.StatusCode, "Bad request"),
            _ => (StatusCodes.Status500InternalServerError, "Internal error"),
        };
        context.Response.StatusCode = status;
        await Results.Problem(title: title, detail: status == 500 ? "see the server log" : error?.Message, statusCode: status)
            .ExecuteAsync(context).ConfigureAwait(false);
    }
}

internal static partial class ServerLog
{
    [LoggerMessage(EventId = 1000, Level = LogLevel.Information, Message = "Default detector {Kind}: an instance that stops heartbeating is critical within {Bound} ({Terms})")]
    public static partial void DetectorBound(ILogger logger, Halo.Core.Detection.DetectorKind kind, string bound, string terms);
}
