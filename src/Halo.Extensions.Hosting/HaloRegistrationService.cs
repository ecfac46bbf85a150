using System.Globalization;
using System.Net;
using Halo.Client;
using Halo.Core.Balancing;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Halo.Extensions.Hosting;

/// <summary>
/// Keeps this application registered with Halo for as long as it runs, without ever failing or delaying the host:
/// <list type="bullet">
/// <item>once Kestrel has bound, registers one instance per address (the bound ones, or <see cref="HaloRegistrationOptions.Addresses"/>);</item>
/// <item>heartbeats all of them each <see cref="HaloRegistrationOptions.HeartbeatInterval"/> on the injected clock, and
/// registers again when the server answers that it forgot them (a restart with a lost store);</item>
/// <item>maps health checks by one rule: <b>Unhealthy</b> marks the instances draining (out of rotation at once, still
/// heartbeating so they are not declared dead); <b>Healthy</b> or <b>Degraded</b> clears a drain this service set (never one
/// an operator set);</item>
/// <item>while the server is away, retries with a doubling, jittered delay up to <see cref="HaloRegistrationOptions.MaxRetryDelay"/>;</item>
/// <item>on a graceful stop, before Kestrel closes: drains, keeps serving for <see cref="HaloRegistrationOptions.DrainDelay"/>
/// so callers following the feed move away, waits for in-flight requests up to <see cref="HaloRegistrationOptions.DrainTimeout"/>,
/// then deregisters.</item>
/// </list>
/// </summary>
public sealed class HaloRegistrationService : BackgroundService, IHostedLifecycleService
{
    private readonly HaloClient _client;
    private readonly HaloRegistrationOptions _options;
    private readonly IServer? _server;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly HealthCheckService? _health;
    private readonly InFlightRequests _inFlight;
    private readonly TimeProvider _time;
    private readonly IRandomFactory _random;
    private readonly ILogger<HaloRegistrationService> _logger;
    private readonly object _gate = new();
    private IReadOnlyList<Registration> _registrations = [];
    private volatile bool _stopping;
    private bool _unhealthy;
    private long _lastHealthCheck;

    /// <summary>Creates the service (through DI: <c>AddHaloRegistration</c>).</summary>
    public HaloRegistrationService(HaloClient client, IOptions<HaloRegistrationOptions> options, IHostApplicationLifetime lifetime, InFlightRequests inFlight,
        TimeProvider time, IRandomFactory random, ILogger<HaloRegistrationService> logger, IServer? server = null, HealthCheckService? health = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _client = client;
        _options = options.Value;
        _server = server;
        _lifetime = lifetime;
        _health = health;
        _inFlight = inFlight;
        _time = time;
        _random = random;
        _logger = logger;
    }

    /// <summary>The instances this application registers (empty until Kestrel has bound).</summary>
    public IReadOnlyList<Registration> Registrations => Volatile.Read(ref _registrations);

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            // Registering before Kestrel listens would send callers to a closed port; the bound port is known only then too.
            var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using (_lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
            using (stoppingToken.Register(() => started.TrySetCanceled(stoppingToken)))
            {
                await started.Task.ConfigureAwait(false);
            }

            Volatile.Write(ref _registrations, Resolve());
            var random = _random.Create();
            var retry = TimeSpan.FromMilliseconds(100);
            while (!stoppingToken.IsCancellationRequested && !_stopping)
            {
                TimeSpan wait;
                try
                {
                    await TickAsync(stoppingToken).ConfigureAwait(false);
                    retry = TimeSpan.FromMilliseconds(100);
                    wait = _options.HeartbeatInterval;
                }
                catch (Exception ex) when (ex is HttpRequestException or HaloApiException or OperationCanceledException && !stoppingToken.IsCancellationRequested)
                {
                    wait = TimeSpan.FromTicks(Math.Min((long)(retry.Ticks * (0.5 + (random.NextDouble() / 2))), _options.MaxRetryDelay.Ticks));
                    HostingLog.ServerAway(_logger, ex.Message, wait);
                    retry = TimeSpan.FromTicks(Math.Min(retry.Ticks * 2, _options.MaxRetryDelay.Ticks));
                    // Never wait past a heartbeat when the server may be back: a late heartbeat costs more than a failed try.
                    wait = wait > _options.HeartbeatInterval ? _options.HeartbeatInterval : wait;
                }

                await Task.Delay(wait, _time, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            // Registration is a service to the application, never a reason for it to stop.
            HostingLog.LoopFailed(_logger, ex);
        }
    }

    /// <summary>One round: health mapping, then register or heartbeat every instance. Tests call it directly.</summary>
    public async Task TickAsync(CancellationToken ct)
    {
        await MapHealthAsync(ct).ConfigureAwait(false);
        foreach (var r in Registrations)
        {
            if (_stopping)
            {
                return;
            }

            if (!r.Registered)
            {
                await _client.RegisterAsync(r.Service, r.Id, Body(r), ct).ConfigureAwait(false);
                r.Registered = true;
                r.DrainedByUs = false;
                HostingLog.Registered(_logger, r.Service, r.Id, r.Address);
            }
            else if (!await _client.HeartbeatAsync(r.Service, r.Id, ct).ConfigureAwait(false))
            {
                HostingLog.Forgotten(_logger, r.Service, r.Id);
                r.Registered = false;
                await _client.RegisterAsync(r.Service, r.Id, Body(r), ct).ConfigureAwait(false);
                r.Registered = true;
                r.DrainedByUs = false;
            }

            var drain = _unhealthy;
            if (drain != r.DrainedByUs)
            {
                await _client.DrainAsync(r.Service, r.Id, drain, ct).ConfigureAwait(false);
                r.DrainedByUs = drain;
            }
        }
    }

    private async Task MapHealthAsync(CancellationToken ct)
    {
        if (_health is null || _options.HealthCheckInterval == TimeSpan.Zero
            || (_lastHealthCheck != 0 && _time.GetElapsedTime(_lastHealthCheck) < _options.HealthCheckInterval))
        {
            return;
        }

        _lastHealthCheck = _time.GetTimestamp();
        HealthReport report;
        try
        {
            report = await _health.CheckHealthAsync(ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            report = new HealthReport(new Dictionary<string, HealthReportEntry>(), HealthStatus.Unhealthy, TimeSpan.Zero);
        }

        var unhealthy = report.Status == HealthStatus.Unhealthy;
        if (unhealthy != _unhealthy)
        {
            var status = report.Status.ToString();
            foreach (var r in Registrations)
            {
                if (unhealthy)
                {
                    HostingLog.LeftRotation(_logger, status, r.Service, r.Id);
                }
                else
                {
                    HostingLog.Rejoined(_logger, status, r.Service, r.Id);
                }
            }
        }

        _unhealthy = unhealthy;
    }

    /// <inheritdoc />
    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Runs before any hosted service (Kestrel included) stops: drain, let callers move, wait for in-flight requests, deregister.</summary>
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        _stopping = true;
        var registered = Registrations.Where(r => r.Registered).ToList();
        if (registered.Count == 0)
        {
            return;
        }

        var started = _time.GetTimestamp();
        var bound = _options.DrainDelay + _options.DrainTimeout;
        var inFlight = _inFlight.Count;
        HostingLog.Draining(_logger, _options.Service!, inFlight, bound);
        using var deadline = new CancellationTokenSource(bound + TimeSpan.FromSeconds(5), _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        var ct = linked.Token;
        try
        {
            await Task.WhenAll(registered.Select(r => Try(() => _client.DrainAsync(r.Service, r.Id, true, ct)))).ConfigureAwait(false);
            await Task.Delay(_options.DrainDelay, _time, ct).ConfigureAwait(false);
            while (_inFlight.Count > 0 && _time.GetElapsedTime(started) < bound)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(20), _time, ct).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // The host's own shutdown budget ran out: deregister now rather than not at all.
        }

        foreach (var r in registered)
        {
            try
            {
                using var quick = new CancellationTokenSource(TimeSpan.FromSeconds(2), _time);
                await _client.DeregisterAsync(r.Service, r.Id, quick.Token).ConfigureAwait(false);
                r.Registered = false;
                var left = _inFlight.Count;
                HostingLog.Deregistered(_logger, r.Service, r.Id, left);
            }
            catch (Exception ex) when (ex is HttpRequestException or HaloApiException or OperationCanceledException)
            {
                HostingLog.DeregisterFailed(_logger, r.Service, r.Id, ex.Message);
            }
        }
    }

    /// <inheritdoc />
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static async Task Try(Func<Task> call)
    {
        try
        {
            await call().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or HaloApiException)
        {
            // Best effort: deregistering below removes the instance anyway.
        }
    }

    private object Body(Registration r) => new
    {
        address = r.Address.Host,
        port = r.Address.Port,
        ttl = Core.Durations.Format(_options.HeartbeatInterval),
        weight = _options.Weight,
        zone = _options.Zone,
        tags = _options.Tags,
        metadata = new Dictionary<string, string>(_options.Metadata) { ["scheme"] = r.Address.Scheme },
    };

    private List<Registration> Resolve()
    {
        var addresses = _options.Addresses.Count > 0
            ? _options.Addresses.Select(a => new Uri(a))
            : (_server?.Features.Get<IServerAddressesFeature>()?.Addresses ?? []).Select(Advertised);
        var service = _options.Service!;
        var list = new List<Registration>();
        foreach (var address in addresses.Distinct())
        {
            var id = _options.InstanceId is { } fixedId
                ? list.Count == 0 ? fixedId : $"{fixedId}-{address.Port.ToString(CultureInfo.InvariantCulture)}"
                : $"{service}-{address.Host.Replace(':', '-').Trim('[', ']')}-{address.Port.ToString(CultureInfo.InvariantCulture)}";
            list.Add(new Registration(service, id[..Math.Min(id.Length, 63)].TrimEnd('-', '.', '_'), address));
        }

        return list;
    }

    private Uri Advertised(string bound)
    {
        var binding = BindingAddress.Parse(bound);
        var host = binding.Host is "0.0.0.0" or "[::]" or "::" or "+" or "*"
            ? _options.AdvertiseHost ?? Dns.GetHostName()
            : binding.Host;
        return new UriBuilder(binding.Scheme, host.Trim('[', ']'), binding.Port).Uri;
    }

    /// <summary>One registered instance of this application.</summary>
    public sealed class Registration(string service, string id, Uri address)
    {
        /// <summary>Service name.</summary>
        public string Service { get; } = service;

        /// <summary>Instance id.</summary>
        public string Id { get; } = id;

        /// <summary>The address callers are sent to.</summary>
        public Uri Address { get; } = address;

        /// <summary>Whether the server has it (as far as this application knows).</summary>
        public bool Registered { get; internal set; }

        /// <summary>Whether this service drained it because the health checks said Unhealthy.</summary>
        public bool DrainedByUs { get; internal set; }
    }
}
