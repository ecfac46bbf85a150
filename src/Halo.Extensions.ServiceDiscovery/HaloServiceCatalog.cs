using Halo.Client;
using Halo.Core.Balancing;
using Halo.Core.Detection;
using Halo.Core.Registry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;

namespace Halo.Extensions.ServiceDiscovery;

/// <summary>
/// The application's one view of the Halo registry for discovery: a <see cref="CatalogWatcher"/> over every service (one
/// change feed per application, whatever the number of clients), the routable instances of each service, and a change
/// token that fires when they change. While the servers are away the last known set stays.
/// </summary>
public sealed class HaloServiceCatalog : BackgroundService
{
    private readonly CatalogWatcher _watcher;
    private readonly TaskCompletionSource _first = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile Dictionary<string, IReadOnlyList<InstanceRecord>> _routable = new(StringComparer.Ordinal);
    private volatile HashSet<string> _known = new(StringComparer.Ordinal);
    private CancellationTokenSource _changed = new();

    /// <summary>Creates the catalog over <paramref name="client"/>.</summary>
    public HaloServiceCatalog(HaloClient client, TimeProvider time, IRandomFactory random, ILogger<HaloServiceCatalog> logger)
    {
        _watcher = new CatalogWatcher(client, time: time, random: random)
        {
            Published = Publish,
            Lost = ex =>
            {
                LastError = ex.Message;
                DiscoveryLog.FeedLost(logger, ex.Message);
            },
            Rejected = problem => DiscoveryLog.Rejected(logger, problem),
        };
    }

    /// <summary>Why the feed was last lost (for the error a caller sees before the first catalog read), null if never.</summary>
    internal string? LastError { get; private set; }

    /// <summary>Revision of the registry this view reflects.</summary>
    public long Revision => _watcher.Revision;

    /// <summary>Waits (up to <paramref name="timeout"/>) for the first catalog read; false when none arrived in time.</summary>
    public async Task<bool> WaitForFirstAsync(TimeSpan timeout, TimeProvider time, CancellationToken ct)
    {
        if (_first.Task.IsCompleted)
        {
            return true;
        }

        try
        {
            await _first.Task.WaitAsync(timeout, time, ct).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    /// <summary>
    /// The instances of <paramref name="service"/> a caller may use: <b>passing</b> and not draining; when none is passing,
    /// the suspect ones (a starved machine makes heartbeats late everywhere at once); never critical or draining ones.
    /// </summary>
    public IReadOnlyList<InstanceRecord> Routable(string service) =>
        _routable.TryGetValue(service, out var list) ? list : [];

    /// <summary>True when <paramref name="service"/> has instances in the registry, routable or not.</summary>
    public bool Knows(string service) => _known.Contains(service);

    /// <summary>Fires on the next change of any service's routable set.</summary>
    public IChangeToken ChangeToken() => new CancellationChangeToken(Volatile.Read(ref _changed).Token);

    /// <inheritdoc />
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => _watcher.RunAsync(stoppingToken);

    private void Publish(CatalogSnapshot snapshot)
    {
        var next = snapshot.Instances
            .Where(i => i.Health != HealthStatus.Critical && !i.Draining && i.Weight > 0)
            .GroupBy(i => i.Service, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => Choose(g), StringComparer.Ordinal);
        var before = _routable;
        _routable = next;
        _known = snapshot.Instances.Select(i => i.Service).ToHashSet(StringComparer.Ordinal);
        _first.TrySetResult();
        if (!Same(before, next))
        {
            Interlocked.Exchange(ref _changed, new CancellationTokenSource()).Cancel();
        }
    }

    /// <summary>Passing instances; only when none is passing, the suspect ones (late heartbeats, not yet judged down).</summary>
    private static IReadOnlyList<InstanceRecord> Choose(IEnumerable<InstanceRecord> live)
    {
        var ordered = live.OrderBy(i => i.Id, StringComparer.Ordinal).ToList();
        var passing = ordered.Where(i => i.Health == HealthStatus.Passing).ToList();
        return passing.Count > 0 ? passing : ordered;
    }

    private static bool Same(Dictionary<string, IReadOnlyList<InstanceRecord>> a, Dictionary<string, IReadOnlyList<InstanceRecord>> b) =>
        a.Count == b.Count && a.All(kv => b.TryGetValue(kv.Key, out var other)
            && kv.Value.Select(i => (i.Id, i.Address, i.Port)).SequenceEqual(other.Select(i => (i.Id, i.Address, i.Port))));
}

internal static partial class DiscoveryLog
{
    [LoggerMessage(EventId = 7200, Level = LogLevel.Warning, Message = "Halo change feed lost ({Error}); discovery keeps the last known endpoints")]
    public static partial void FeedLost(ILogger logger, string error);

    [LoggerMessage(EventId = 7201, Level = LogLevel.Warning, Message = "Halo instance left out of discovery: {Problem}")]
    public static partial void Rejected(ILogger logger, string problem);

    [LoggerMessage(EventId = 7202, Level = LogLevel.Debug, Message = "Caller report for {Service}/{Instance} failed: {Error}")]
    public static partial void ReportFailed(ILogger logger, string service, string instance, string error);
}
