using System.Net;
using System.Text.Json;
using Halo.Core.Balancing;
using Halo.Core.Registry;
using Halo.Core.Serialization;

namespace Halo.Client;

/// <summary>Every instance (of one service, or all) as of one store revision; built whole and never changed.</summary>
public sealed record CatalogSnapshot(long Revision, IReadOnlyList<InstanceRecord> Instances);

/// <summary>
/// Keeps a current copy of the registry for a reader that must never poll it (the gateway, the service-discovery provider):
/// reads GET /v1/catalog, follows the change feed from the catalog's revision through <see cref="FeedReader"/> (which
/// resumes on any server), re-reads the catalog after a <c>reset</c>, and publishes a fresh <see cref="CatalogSnapshot"/>
/// after each change. While no server answers it keeps the last snapshot (publishes nothing) and retries with a jittered
/// back-off. A record that cannot be routed to (see <see cref="Problem"/>) is left out and reported, never allowed to
/// take the rest down.
/// </summary>
public sealed class CatalogWatcher
{
    private readonly HaloClient _client;
    private readonly string? _service;
    private readonly TimeProvider _time;
    private readonly IRandomFactory _random;
    private readonly Dictionary<(string Service, string Id), InstanceRecord> _instances = [];
    private long _revision;

    /// <summary>Creates a watcher of every service, or of <paramref name="service"/> only.</summary>
    public CatalogWatcher(HaloClient client, string? service = null, TimeProvider? time = null, IRandomFactory? random = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        _client = client;
        _service = service;
        _time = time ?? TimeProvider.System;
        _random = random ?? new SystemRandomFactory();
    }

    /// <summary>Longest wait between tries while the servers are away. Default 5 s.</summary>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Called with each new snapshot (on the watcher's task; keep it quick).</summary>
    public Action<CatalogSnapshot>? Published { get; init; }

    /// <summary>Called when the feed is connected (server, revision resumed from).</summary>
    public Action<Uri?, long?>? Connected { get; init; }

    /// <summary>Called when the catalog or the feed could not be read; the last snapshot stays.</summary>
    public Action<Exception>? Lost { get; init; }

    /// <summary>Called when the server said the history was gone; the catalog is read again.</summary>
    public Action? Reset { get; init; }

    /// <summary>Called for each record left out, with the reason.</summary>
    public Action<string>? Rejected { get; init; }

    /// <summary>Revision of the last change applied (0 before the first catalog).</summary>
    public long Revision => Interlocked.Read(ref _revision);

    /// <summary>The last snapshot published, or null before the first catalog read.</summary>
    public CatalogSnapshot? Current { get; private set; }

    /// <summary>Runs until <paramref name="ct"/> is cancelled; never throws anything else.</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        var random = _random.Create();
        var backoff = TimeSpan.FromTicks(Math.Min(TimeSpan.FromMilliseconds(100).Ticks, MaxBackoff.Ticks));
        var needCatalog = true;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                if (needCatalog)
                {
                    await LoadCatalogAsync(ct).ConfigureAwait(false);
                    needCatalog = false;
                    backoff = TimeSpan.FromTicks(Math.Min(TimeSpan.FromMilliseconds(100).Ticks, MaxBackoff.Ticks));
                }

                var feed = _client.Feed(connected: Connected, lost: Lost, maxBackoff: MaxBackoff);
                await foreach (var message in feed.FollowAsync(WatchPath(), "from", Revision, ct).ConfigureAwait(false))
                {
                    if (message.Event == "reset")
                    {
                        Reset?.Invoke();
                        needCatalog = true;
                        break;
                    }

                    Apply(message);
                }

                continue;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is HttpRequestException or HaloApiException or IOException or JsonException or OperationCanceledException)
            {
                // A 410 means our revision is older than the server keeps: start again from a fresh catalog.
                if (ex is HaloApiException { Status: HttpStatusCode.Gone or HttpStatusCode.BadRequest })
                {
                    needCatalog = true;
                }

                Lost?.Invoke(ex);
            }

            try
            {
                await Task.Delay(TimeSpan.FromTicks((long)(backoff.Ticks * (0.5 + (random.NextDouble() / 2)))), _time, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
        }
    }

    /// <summary>Why a record cannot be routed to, or null when it can.</summary>
    public static string? Problem(InstanceRecord instance)
    {
        ArgumentNullException.ThrowIfNull(instance);
        if (!Names.IsValid(instance.Service))
        {
            return $"service '{instance.Service}' is not a valid name";
        }

        if (!Names.IsValid(instance.Id))
        {
            return $"{instance.Service}: instance id '{instance.Id}' is not a valid name";
        }

        if (instance.Port is < 1 or > 65535)
        {
            return $"{instance.Service}/{instance.Id}: port {instance.Port} is out of range";
        }

        if (string.IsNullOrWhiteSpace(instance.Address) || (!IPAddress.TryParse(instance.Address, out _) && Uri.CheckHostName(instance.Address) != UriHostNameType.Dns))
        {
            return $"{instance.Service}/{instance.Id}: address '{instance.Address}' is not an IP address or host name";
        }

        if (instance.Weight is < 0 or > 1_000_000)
        {
            return $"{instance.Service}/{instance.Id}: weight {instance.Weight} is out of range";
        }

        return Enum.IsDefined(instance.Health) ? null : $"{instance.Service}/{instance.Id}: health '{instance.Health}' is unknown";
    }

    private string WatchPath() => _service is null ? "v1/watch" : $"v1/watch?service={Uri.EscapeDataString(_service)}";

    private async Task LoadCatalogAsync(CancellationToken ct)
    {
        var catalog = await _client.CatalogAsync(ct).ConfigureAwait(false);
        _instances.Clear();
        foreach (var instance in catalog.Instances)
        {
            if (_service is not null && instance.Service != _service)
            {
                continue;
            }

            if (Problem(instance) is { } problem)
            {
                Rejected?.Invoke(problem);
                continue;
            }

            _instances[(instance.Service, instance.Id)] = instance;
        }

        Interlocked.Exchange(ref _revision, catalog.Revision);
        Publish();
    }

    private void Apply(FeedMessage message)
    {
        if (message.Event is not ("put" or "delete"))
        {
            return;
        }

        // Whatever happens to this message, a reconnect resumes after it: a bad record is not replayed forever.
        try
        {
            if (message.Event == "put")
            {
                var instance = JsonSerializer.Deserialize<InstanceRecord>(message.Data, HaloJson.Options)
                    ?? throw new JsonException("empty instance");
                if (Problem(instance) is { } problem)
                {
                    Rejected?.Invoke(problem);
                    return;
                }

                _instances[(instance.Service, instance.Id)] = instance;
            }
            else
            {
                var key = JsonSerializer.Deserialize<InstanceKey>(message.Data, HaloJson.Options);
                if (key is not { Service.Length: > 0, Id.Length: > 0 })
                {
                    Rejected?.Invoke("delete without service/id");
                    return;
                }

                _instances.Remove((key.Service, key.Id));
            }
        }
        catch (JsonException ex)
        {
            Rejected?.Invoke("malformed instance JSON: " + ex.Message);
            return;
        }
        finally
        {
            Interlocked.Exchange(ref _revision, Math.Max(Revision, message.Revision));
        }

        Publish();
    }

    private void Publish()
    {
        var snapshot = new CatalogSnapshot(Revision, [.. _instances.Values]);
        Current = snapshot;
        Published?.Invoke(snapshot);
    }

    private sealed record InstanceKey(string? Service, string? Id);
}
