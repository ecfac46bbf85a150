using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Halo.Gateway.Configuration;
using Halo.Gateway.Routing;
using Halo.Gateway.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Halo.Gateway.Feed;

/// <summary>
/// Follows the control plane: reads GET /v1/catalog once, then GET /v1/watch?from=REV (SSE), applying
/// each change and swapping in a new routing table. After a disconnect it resumes from the last
/// revision it applied, so nothing is missed; on a <c>reset</c> event it re-reads the catalog. While the
/// server is unreachable the last table keeps serving and the metrics say the feed is stale.
/// </summary>
public sealed class CatalogFeed : BackgroundService
{
    private readonly TimeSpan _minBackoff;
    private readonly TimeSpan _maxBackoff;
    private readonly GatewaySettings _settings;
    private readonly RoutingTableBuilder _builder;
    private readonly RoutingTableHolder _holder;
    private readonly GatewayMetrics _metrics;
    private readonly HttpClient _http;
    private readonly TimeProvider _time;
    private readonly ILogger<CatalogFeed> _logger;
    private readonly Dictionary<(string Service, string Id), InstanceRecord> _instances = [];
    private long _revision;
    private bool _needCatalog = true;

    /// <summary>Creates the feed consumer.</summary>
    public CatalogFeed(GatewaySettings settings, RoutingTableBuilder builder, RoutingTableHolder holder, GatewayMetrics metrics,
        TimeProvider time, ILogger<CatalogFeed> logger)
    {
        _settings = settings;
        _builder = builder;
        _holder = holder;
        _metrics = metrics;
        _time = time;
        _logger = logger;
        // `halo model` predicts re-routing after a feed loss with gateway.feedRetry: never wait longer than that.
        _maxBackoff = settings.FeedRetry;
        _minBackoff = TimeSpan.FromTicks(Math.Min(TimeSpan.FromMilliseconds(100).Ticks, settings.FeedRetry.Ticks));
        _http = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(2), UseProxy = false })
        {
            BaseAddress = settings.Server,
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    /// <summary>Revision of the last change applied.</summary>
    public long Revision => Interlocked.Read(ref _revision);

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_settings.UsesRegistry)
        {
            return;
        }

        var backoff = _minBackoff;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (_needCatalog)
                {
                    await LoadCatalogAsync(stoppingToken);
                }

                await WatchAsync(() => backoff = _minBackoff, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException or JsonException or InvalidDataException or OperationCanceledException)
            {
                _metrics.SetFeedState(connected: false, stale: true);
                Log.FeedLost(_logger, _settings.Server, ex.Message, Revision);
            }

            try
            {
                await Task.Delay(backoff, _time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, _maxBackoff.Ticks));
        }
    }

    private async Task LoadCatalogAsync(CancellationToken ct)
    {
        using var response = await _http.GetAsync("/v1/catalog", ct);
        response.EnsureSuccessStatusCode();
        var body = await response.Content.ReadAsStringAsync(ct);
        var (instances, revision) = CatalogParser.Parse(body, response.Headers.TryGetValues("X-Halo-Index", out var v) ? v.FirstOrDefault() : null);
        var fresh = new Dictionary<(string, string), InstanceRecord>();
        foreach (var i in instances)
        {
            if (i.Problem() is { } problem)
            {
                // One bad record in the catalog is dropped, not allowed to block every other service.
                _metrics.FeedRejected();
                Log.FeedUpdateRejected(_logger, problem, Revision);
                continue;
            }

            fresh[(i.Service, i.Id)] = i;
        }

        _instances.Clear();
        foreach (var kv in fresh)
        {
            _instances[kv.Key] = kv.Value;
        }

        Interlocked.Exchange(ref _revision, revision);
        _needCatalog = false;
        Publish();
    }

    private async Task WatchAsync(Action connected, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/watch?from={Revision.ToString(CultureInfo.InvariantCulture)}");
        request.Headers.Accept.ParseAdd("text/event-stream");
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        if (response.StatusCode is HttpStatusCode.Gone or HttpStatusCode.BadRequest)
        {
            // The server cannot replay from our revision: start over from a fresh catalog.
            _needCatalog = true;
            return;
        }

        response.EnsureSuccessStatusCode();
        _metrics.SetFeedState(connected: true, stale: false);
        connected();
        Log.FeedConnected(_logger, _settings.Server, Revision);

        await using var stream = await response.Content.ReadAsStreamAsync(ct);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        string? id = null, type = null;
        var data = new StringBuilder();
        while (await reader.ReadLineAsync(ct) is { } line)
        {
            if (line.Length == 0)
            {
                if (type is not null || data.Length > 0)
                {
                    if (!Apply(type ?? "message", id, data.ToString()))
                    {
                        return;
                    }
                }

                id = type = null;
                data.Clear();
                continue;
            }

            if (line.StartsWith(':'))
            {
                continue;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var field = colon < 0 ? line : line[..colon];
            var value = colon < 0 ? "" : line[(colon + 1)..].TrimStart(' ');
            switch (field)
            {
                case "id": id = value; break;
                case "event": type = value; break;
                case "data": data.Append(data.Length > 0 ? "\n" : "").Append(value); break;
            }
        }

        throw new IOException("the server closed the change feed");
    }

    /// <summary>Applies one event; returns false when the stream must be abandoned (reset).</summary>
    private bool Apply(string type, string? id, string data)
    {
        if (type == "reset")
        {
            Log.FeedReset(_logger);
            _needCatalog = true;
            return false;
        }

        if (type is not ("put" or "delete"))
        {
            return true;
        }

        InstanceRecord? instance;
        try
        {
            instance = JsonSerializer.Deserialize<InstanceRecord>(data, InstanceRecord.Json);
        }
        catch (JsonException ex)
        {
            Reject("malformed instance JSON: " + ex.Message);
            return true;
        }

        var revision = long.TryParse(id, NumberStyles.Integer, CultureInfo.InvariantCulture, out var r) ? r : instance?.Revision ?? 0;
        var problem = instance is null ? "empty instance"
            : type == "put" ? instance.Problem()
            : string.IsNullOrEmpty(instance.Service) || string.IsNullOrEmpty(instance.Id) ? "delete without service/id" : null;
        if (problem is not null || instance is null)
        {
            Reject(problem ?? "empty instance");
            // Advance past it so a reconnect does not replay the same bad record forever.
            Interlocked.Exchange(ref _revision, Math.Max(Revision, revision));
            return true;
        }

        if (type == "put")
        {
            _instances[(instance.Service, instance.Id)] = instance;
        }
        else
        {
            _instances.Remove((instance.Service, instance.Id));
        }

        Interlocked.Exchange(ref _revision, Math.Max(Revision, revision));
        Publish();
        return true;
    }

    private void Reject(string reason)
    {
        _metrics.FeedRejected();
        Log.FeedUpdateRejected(_logger, reason, _holder.Current?.Revision ?? 0);
    }

    private void Publish() => _holder.Publish(_builder.Build(_instances.Values, Revision));

    /// <inheritdoc />
    public override void Dispose()
    {
        _http.Dispose();
        base.Dispose();
    }
}
