using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Halo.Core.Balancing;
using Halo.Core.Registry;
using Halo.Core.Serialization;

namespace Halo.Client;

/// <summary>
/// A typed client of the control-plane API (docs/api.md): the one way the CLI, agents, gateway, TCP proxy and .NET
/// applications talk to Halo. Built from <see cref="HaloClientOptions"/> it moves between servers, sends the token and
/// checks TLS as the options say; errors arrive as <see cref="HaloApiException"/> read from the server's problem+json.
/// </summary>
public sealed class HaloClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly TimeProvider _time;
    private readonly IRandomFactory _random;
    private readonly TimeSpan _feedIdleTimeout;

    /// <summary>A client for the servers, token and TLS settings of <paramref name="options"/>.</summary>
    public HaloClient(HaloClientOptions options, TimeProvider? time = null, IRandomFactory? random = null)
        : this(HaloHttp.CreateHandler(options, time), options, time, random)
    {
    }

    private HaloClient(ServerFailoverHandler handler, HaloClientOptions options, TimeProvider? time, IRandomFactory? random)
        : this(new HttpClient(handler, disposeHandler: true) { BaseAddress = handler.Servers[0], Timeout = options.RequestTimeout },
            time, random, options.FeedIdleTimeout, ownsHttp: true)
    {
        Failover = handler;
    }

    /// <summary>A client for one server with default options.</summary>
    public HaloClient(Uri server)
        : this(new HaloClientOptions { Servers = [server] })
    {
    }

    /// <summary>A client over an <see cref="HttpClient"/> whose base address is the server (for tests and DI-built clients).</summary>
    public HaloClient(HttpClient http, TimeProvider? time = null, IRandomFactory? random = null)
        : this(http, time, random, TimeSpan.FromSeconds(45), ownsHttp: false)
    {
    }

    private HaloClient(HttpClient http, TimeProvider? time, IRandomFactory? random, TimeSpan feedIdleTimeout, bool ownsHttp)
    {
        ArgumentNullException.ThrowIfNull(http);
        _http = http;
        _ownsHttp = ownsHttp;
        _time = time ?? TimeProvider.System;
        _random = random ?? new SystemRandomFactory();
        _feedIdleTimeout = feedIdleTimeout;
        Groups = new GroupClient(http, ownsHttp: false);
    }

    /// <summary>The first configured server (relative URLs resolve against it; calls may go to another).</summary>
    public Uri? BaseAddress => _http.BaseAddress;

    /// <summary>The server calls go to now: the last one that answered.</summary>
    public Uri? CurrentServer => Failover?.CurrentServer ?? _http.BaseAddress;

    /// <summary>The server-list handler, when this client was built from <see cref="HaloClientOptions"/>.</summary>
    public ServerFailoverHandler? Failover { get; }

    /// <summary>The failover groups API over the same connection.</summary>
    public GroupClient Groups { get; }

    /// <summary>Registers (or updates) an instance. <paramref name="registration"/> is the body of docs/api.md's PUT.</summary>
    public Task<InstanceRecord> RegisterAsync(string service, string id, object registration, CancellationToken ct = default) =>
        SendAsync<InstanceRecord>(HttpMethod.Put, $"v1/services/{Esc(service)}/instances/{Esc(id)}", registration, ct);

    /// <summary>Heartbeats one instance. Returns false when the server does not know it (the caller should re-register).</summary>
    public async Task<bool> HeartbeatAsync(string service, string id, CancellationToken ct = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri($"v1/services/{Esc(service)}/instances/{Esc(id)}/heartbeat", UriKind.Relative));
        request.Options.Set(HaloHttp.Idempotent, true);
        using var response = await _http.SendAsync(request, ct).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }

        await HaloApiException.ThrowIfFailedAsync(response, ct).ConfigureAwait(false);
        return true;
    }

    /// <summary>Removes an instance.</summary>
    public async Task DeregisterAsync(string service, string id, CancellationToken ct = default)
    {
        using var response = await _http.DeleteAsync(new Uri($"v1/services/{Esc(service)}/instances/{Esc(id)}", UriKind.Relative), ct).ConfigureAwait(false);
        await HaloApiException.ThrowIfFailedAsync(response, ct).ConfigureAwait(false);
    }

    /// <summary>Sets or clears an instance's draining flag.</summary>
    public Task<InstanceRecord> DrainAsync(string service, string id, bool draining, CancellationToken ct = default) =>
        SendAsync<InstanceRecord>(HttpMethod.Put, $"v1/services/{Esc(service)}/instances/{Esc(id)}/drain", new { draining }, ct);

    /// <summary>Sends a caller's account of requests to one instance over a window (caller-observed health); the server's verdict, when it gives one.</summary>
    public Task<CallerVerdictView?> ReportAsync(string service, string id, CallerReport report, CancellationToken ct = default) =>
        SendAsync<CallerVerdictView?>(HttpMethod.Post, $"v1/services/{Esc(service)}/instances/{Esc(id)}/reports", report, ct, idempotent: true, allowEmpty: true);

    /// <summary>Services with counts by health.</summary>
    public Task<ServiceList> ServicesAsync(CancellationToken ct = default) =>
        SendAsync<ServiceList>(HttpMethod.Get, "v1/services", null, ct);

    /// <summary>Every instance of every service, at one store revision: the starting point of <see cref="WatchAsync"/>.</summary>
    public Task<Catalog> CatalogAsync(CancellationToken ct = default) =>
        SendAsync<Catalog>(HttpMethod.Get, "v1/catalog", null, ct);

    /// <summary>Instances of a service; with <paramref name="index"/>, a blocking query that returns once the service changes past it.</summary>
    public Task<InstanceList> InstancesAsync(string service, string? health = null, long? index = null, TimeSpan? wait = null, CancellationToken ct = default)
    {
        var query = new List<string>();
        if (health is not null) query.Add("health=" + Uri.EscapeDataString(health));
        if (index is not null) query.Add("index=" + index.Value.ToString(CultureInfo.InvariantCulture));
        if (wait is not null) query.Add("wait=" + Core.Durations.Format(wait.Value));
        var url = $"v1/services/{Esc(service)}/instances" + (query.Count > 0 ? "?" + string.Join('&', query) : "");
        return SendAsync<InstanceList>(HttpMethod.Get, url, null, ct, longPoll: index is null ? null : wait ?? TimeSpan.FromMinutes(5));
    }

    /// <summary>A page of the event history after a revision.</summary>
    public Task<EventList> EventsAsync(long after = 0, int limit = 100, string? service = null, string? type = null, CancellationToken ct = default)
    {
        var url = $"v1/events?after={after.ToString(CultureInfo.InvariantCulture)}&limit={limit.ToString(CultureInfo.InvariantCulture)}"
            + (service is null ? "" : "&service=" + Esc(service)) + (type is null ? "" : "&type=" + Esc(type));
        return SendAsync<EventList>(HttpMethod.Get, url, null, ct);
    }

    /// <summary>
    /// Follows the change feed of instances (all services, or one) after revision <paramref name="from"/> (null: from now),
    /// resuming across disconnects and servers; see <see cref="FeedReader"/>. Ends after a <c>reset</c> message.
    /// </summary>
    public IAsyncEnumerable<FeedMessage> WatchAsync(string? service = null, long? from = null, CancellationToken ct = default) =>
        Feed().FollowAsync(service is null ? "v1/watch" : $"v1/watch?service={Esc(service)}", "from", from, ct);

    /// <summary>Follows the event stream after revision <paramref name="after"/> (null: from now), resuming across disconnects and servers.</summary>
    public IAsyncEnumerable<FeedMessage> EventStreamAsync(long? after = null, CancellationToken ct = default) =>
        Feed().FollowAsync("v1/events/stream", "after", after, ct);

    /// <summary>A feed reader over this client's connection, for callers that want its hooks (connected, lost).</summary>
    public FeedReader Feed(Action<Uri?, long?>? connected = null, Action<Exception>? lost = null, TimeSpan? maxBackoff = null) =>
        new(_http, _time, _random, _feedIdleTimeout)
        {
            Connected = connected,
            Lost = lost,
            MaxBackoff = maxBackoff ?? TimeSpan.FromSeconds(5),
            MinBackoff = TimeSpan.FromTicks(Math.Min(TimeSpan.FromMilliseconds(100).Ticks, (maxBackoff ?? TimeSpan.FromSeconds(5)).Ticks)),
        };

    /// <summary>Reads one instance record from a feed message's data.</summary>
    public static InstanceRecord? ParseInstance(FeedMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return JsonSerializer.Deserialize<InstanceRecord>(message.Data, HaloJson.Options);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }
    }

    internal static string Esc(string s) => Uri.EscapeDataString(s);

    internal static async Task<T> SendAsync<T>(
        HttpClient http, HttpMethod method, string url, object? body, CancellationToken ct, bool idempotent = false, TimeSpan? longPoll = null, bool allowEmpty = false,
        TimeSpan? hedgeAfter = null)
    {
        using var request = new HttpRequestMessage(method, new Uri(url, UriKind.Relative));
        if (body is not null)
        {
            request.Content = JsonContent.Create(body, body.GetType(), options: HaloJson.Options);
        }

        if (idempotent)
        {
            request.Options.Set(HaloHttp.Idempotent, true);
        }

        if (longPoll is { } wait)
        {
            request.Options.Set(HaloHttp.LongPoll, wait);
        }

        if (hedgeAfter is { } hedge)
        {
            request.Options.Set(HaloHttp.HedgeAfter, hedge);
        }

        using var response = await http.SendAsync(request, ct).ConfigureAwait(false);
        await HaloApiException.ThrowIfFailedAsync(response, ct).ConfigureAwait(false);
        if (allowEmpty && (response.StatusCode == HttpStatusCode.NoContent || response.Content.Headers.ContentLength == 0))
        {
            return default!;
        }

        return (await response.Content.ReadFromJsonAsync<T>(HaloJson.Options, ct).ConfigureAwait(false))
            ?? throw new HaloApiException(response.StatusCode, $"{method} {url}: the server answered with an empty body");
    }

    private Task<T> SendAsync<T>(HttpMethod method, string url, object? body, CancellationToken ct, bool idempotent = false, TimeSpan? longPoll = null, bool allowEmpty = false) =>
        SendAsync<T>(_http, method, url, body, ct, idempotent, longPoll, allowEmpty);
}
