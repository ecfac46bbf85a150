namespace Halo.Core.Configuration;

/// <summary>
/// What one caller, and all callers together, may hold of a control-plane server (docs/security.md, "Limits"). Set under
/// <c>server.limits</c> in the config file; field names in <see cref="Validate"/> errors are those keys. The defaults keep
/// the measured loads (20,000 instances heartbeating once a second with one token; a gateway watching every service)
/// well inside, and an exhausting caller well outside.
/// </summary>
public sealed record LimitOptions
{
    /// <summary>Watches, blocking queries and event streams one token may hold open at once. Default 1,000; range 1 – <see cref="MaxStreams"/>.</summary>
    public int MaxStreamsPerToken { get; init; } = 1_000;

    /// <summary>
    /// Watches, blocking queries and event streams open at once, all tokens together. Default 8,000; below
    /// <see cref="MaxConnections"/>, so streams can never take the connections heartbeats need.
    /// </summary>
    public int MaxStreams { get; init; } = 8_000;

    /// <summary>Requests one token may make per second (a token bucket holding one second's worth). Default 25,000; range 1 – 10,000,000.</summary>
    public int RequestsPerSecondPerToken { get; init; } = 25_000;

    /// <summary>Requests one source address may make per second, with or without a token. Default 50,000; range 1 – 10,000,000.</summary>
    public int RequestsPerSecondPerSource { get; init; } = 50_000;

    /// <summary>Open connections Kestrel accepts; past it new connections are closed at once. Default 10,000; range 16 – 1,000,000.</summary>
    public int MaxConnections { get; init; } = 10_000;

    /// <summary>Headers in one request (Kestrel's default is 100; Halo's clients send under 10). Default 64; range 16 – 1,000.</summary>
    public int MaxRequestHeaderCount { get; init; } = 64;

    /// <summary>
    /// Bytes of all headers of one request. Default 32 KiB (Kestrel's: a browser on localhost sends every localhost
    /// cookie of other development servers to the dashboard); range 4 KiB – 1 MiB.
    /// </summary>
    public int MaxRequestHeadersBytes { get; init; } = 32 * 1024;

    /// <summary>How long a client may take to send its request headers (slow-loris). Default 10 s (Kestrel's is 30 s); range 1 s – 5 min.</summary>
    public TimeSpan RequestHeadersTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long an idle kept-alive connection stays open. Default 2 min: longer than HttpClient's 1 min pool idle time, so
    /// a client never sends on a connection the server has just closed; range 5 s – 1 h.
    /// </summary>
    public TimeSpan KeepAliveTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// Services the registry holds (a service exists while it has an instance). Past it, a registration that would add a
    /// service is refused with 409. Default 10,000; range 1 – 1,000,000.
    /// </summary>
    public int MaxServices { get; init; } = 10_000;

    /// <summary>
    /// Instances one service may hold. Past it, a registration that would add an instance is refused with 409 (updates of
    /// existing instances pass). Default 50,000: bench/registry and bench/control-plane put up to 20,000 in one service;
    /// range 1 – 1,000,000.
    /// </summary>
    public int MaxInstancesPerService { get; init; } = 50_000;

    /// <summary>Every out-of-range value, by config key (camelCase under server.limits).</summary>
    public IReadOnlyList<(string Field, string Message)> Validate()
    {
        var errors = new List<(string, string)>();
        Range(errors, "maxStreams", MaxStreams, 1, 1_000_000);
        Range(errors, "maxStreamsPerToken", MaxStreamsPerToken, 1, Math.Max(1, MaxStreams));
        Range(errors, "requestsPerSecondPerToken", RequestsPerSecondPerToken, 1, 10_000_000);
        Range(errors, "requestsPerSecondPerSource", RequestsPerSecondPerSource, 1, 10_000_000);
        Range(errors, "maxConnections", MaxConnections, 16, 1_000_000);
        if (MaxStreams >= MaxConnections)
        {
            errors.Add(("maxStreams", $"must be below maxConnections ({MaxConnections}), so streams cannot take every connection"));
        }

        Range(errors, "maxRequestHeaderCount", MaxRequestHeaderCount, 16, 1_000);
        Range(errors, "maxRequestHeadersBytes", MaxRequestHeadersBytes, 4 * 1024, 1024 * 1024);
        Range(errors, "requestHeadersTimeout", RequestHeadersTimeout, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(5));
        Range(errors, "keepAliveTimeout", KeepAliveTimeout, TimeSpan.FromSeconds(5), TimeSpan.FromHours(1));
        Range(errors, "maxServices", MaxServices, 1, 1_000_000);
        Range(errors, "maxInstancesPerService", MaxInstancesPerService, 1, 1_000_000);
        return errors;
    }

    private static void Range(List<(string, string)> errors, string field, int value, int min, int max)
    {
        if (value < min || value > max)
        {
            errors.Add((field, $"{value} is out of range; must be from {min} to {max}"));
        }
    }

    private static void Range(List<(string, string)> errors, string field, TimeSpan value, TimeSpan min, TimeSpan max)
    {
        if (value < min || value > max)
        {
            errors.Add((field, $"{Durations.Format(value)} is out of range; must be from {Durations.Format(min)} to {Durations.Format(max)}"));
        }
    }
}
