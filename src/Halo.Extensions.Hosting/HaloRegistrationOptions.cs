namespace Halo.Extensions.Hosting;

/// <summary>
/// How an ASP.NET Core application registers itself with Halo (configuration section "Halo"). Validated at start: a bad
/// value stops the host with an <see cref="Microsoft.Extensions.Options.OptionsValidationException"/> naming the option.
/// </summary>
public sealed class HaloRegistrationOptions
{
    /// <summary>Service name to register under (required): 1–63 letters, digits, '.', '_' or '-'. Default: the application name.</summary>
    public string? Service { get; set; }

    /// <summary>Instance id; default "{service}-{host}-{port}" of the first address registered.</summary>
    public string? InstanceId { get; set; }

    /// <summary>
    /// Addresses to register, as URLs ("http://10.0.0.5:8080"); default: the addresses Kestrel bound, with a wildcard
    /// host (0.0.0.0, [::], +, *) replaced by <see cref="AdvertiseHost"/>. One instance is registered per address.
    /// </summary>
    public IList<string> Addresses { get; } = [];

    /// <summary>Host to advertise for a wildcard binding. Default: the machine's host name.</summary>
    public string? AdvertiseHost { get; set; }

    /// <summary>Heartbeat period promised to the server (its detector interval). Default 1 s; 100 ms – 1 min.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often the application's health checks are run and mapped. Default 2 s; 100 ms – 5 min; zero turns mapping off.</summary>
    public TimeSpan HealthCheckInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// On graceful stop, how long to keep serving after marking the instance draining so callers following the feed stop
    /// choosing it. Default 1 s; 0 – 1 min.
    /// </summary>
    public TimeSpan DrainDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>On graceful stop, the longest wait for in-flight requests before deregistering anyway. Default 10 s; 0 – 5 min.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Longest wait between tries while the server is away (jittered, doubling from 100 ms). Default 5 s; 100 ms – 5 min.</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Weight for balancing; default 100; 0 – 1,000,000.</summary>
    public int Weight { get; set; } = 100;

    /// <summary>Zone, optional.</summary>
    public string? Zone { get; set; }

    /// <summary>Tags.</summary>
    public IList<string> Tags { get; } = [];

    /// <summary>Metadata.</summary>
    public IDictionary<string, string> Metadata { get; } = new Dictionary<string, string>();
}
