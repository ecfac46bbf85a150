using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Halo.Core.Registry;
using Halo.Core.Serialization;
using Halo.Server.Registry;
using Halo.Store;

namespace Halo.Server.Events;

/// <summary>
/// The event history. Events live in the store under events/ so they are as durable as the registry and written in the
/// same transaction as the change they explain (an event exists exactly when its change does); their order is the store
/// revision of that transaction, one order across every server. This server keeps the retained history in memory,
/// fed by the store's change feed (<see cref="StoreFollower"/>), so reads never deserialize the stored history.
/// </summary>
/// <remarks>
/// Keys are events/&lt;kind&gt;/&lt;unix ms&gt;-&lt;writer&gt;-&lt;n&gt;: unique across servers (a random writer id per process), never a
/// shared counter and never an order; the kind (registry churn, health incidents, group changes) lets retention keep
/// each kind's history separately, so a flood of registrations cannot push an outage out of the record.
/// </remarks>
internal sealed class EventLog(IStore store, ServerOptions options, TimeProvider time)
{
    private readonly string _writer = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
    private readonly Lock _gate = new();

    // Ordered by revision: the feed delivers in revision order, and loads are sorted once.
    private readonly List<Stored> _history = [];
    private readonly Dictionary<string, long> _revisionByKey = new(StringComparer.Ordinal);
    private long _counter;

    // Pruned events stay in _history marked Removed until they are half of it: retention deletes the oldest events, and
    // taking each out of the front of the list moved the whole history every time (profiled: 3% of the server's CPU
    // under registration load, in List.RemoveAt).
    private int _removed;

    // Events this server appended, by key, until they come back on the feed: applying one then takes the object instead of
    // parsing the JSON just written (every registration's event did; ~1.3 % of a registration's server CPU, profiled).
    // An append whose transaction failed never comes back; the map is emptied when it reaches AppendedCap, and whatever
    // is not in it is parsed from the store as before.
    private readonly ConcurrentDictionary<string, RegistryEvent> _appended = new(StringComparer.Ordinal);
    private const int AppendedCap = 4096;
    private int _appendedSinceClear;

    private sealed record Stored(long Revision, string Key, string Kind, RegistryEvent Event)
    {
        public bool Removed { get; set; }
    }

    /// <summary>The kinds retention counts separately (the second segment of an event key).</summary>
    public static class Kinds
    {
        /// <summary>Registrations, deregistrations, drains: frequent, routine.</summary>
        public const string Registry = "registry";

        /// <summary>Health transitions, removals, the brake, caller reports, alerts: the incident record.</summary>
        public const string Health = "health";

        /// <summary>Elections, failovers, switchovers, pauses of primary/replica groups.</summary>
        public const string Groups = "groups";

        /// <summary>Events written before kinds existed (events/&lt;sequence&gt;).</summary>
        public const string Legacy = "legacy";
    }

    public static string KindOf(string type) => type switch
    {
        EventTypes.Registered or EventTypes.Deregistered or EventTypes.Draining or EventTypes.Audit => Kinds.Registry,
        EventTypes.Elected or EventTypes.Failover or EventTypes.Switchover or EventTypes.Paused or EventTypes.Resumed => Kinds.Groups,
        _ => Kinds.Health,
    };

    /// <summary>A store operation that records <paramref name="e"/>; include it in the transaction of the change.</summary>
    public TxnOp Append(RegistryEvent e)
    {
        var key = string.Create(CultureInfo.InvariantCulture,
            $"{RegistryKeys.EventsPrefix}{KindOf(e.Type)}/{time.GetUtcNow().ToUnixTimeMilliseconds():D13}-{_writer}-{Interlocked.Increment(ref _counter)}");
        var stamped = Security.AuditScope.Stamp(e);
        if (stamped.Evidence is null)
        {
            // Evidence values read back are JSON elements, not the objects written: only events without it are handed over.
            // ConcurrentDictionary.Count takes every bucket lock (profiled on every registration): the map is cleared every
            // AppendedCap appends instead; the few events in flight then are parsed when they come back, as any not in it are.
            if (Interlocked.Increment(ref _appendedSinceClear) > AppendedCap)
            {
                Volatile.Write(ref _appendedSinceClear, 0);
                _appended.Clear();
            }

            _appended[key] = stamped;
        }

        // Unique: no other write makes this key, so the store can prove the transaction carrying it was applied and repeat
        // it safely when etcd loses the answer (a leader's death); see TxnOp.Unique.
        return TxnOp.PutUnique(key, JsonSerializer.SerializeToUtf8Bytes(stamped, HaloJson.Options));
    }

    /// <summary>Replaces the in-memory history with a listing of events/ (start-up, or after the feed was compacted away).</summary>
    public void Load(RangeResult listing)
    {
        var loaded = listing.Items.Select(Parse).OfType<Stored>().OrderBy(s => s.Revision).ToList();
        lock (_gate)
        {
            _history.Clear();
            _removed = 0;
            _revisionByKey.Clear();
            foreach (var s in loaded)
            {
                _history.Add(s);
                _revisionByKey[s.Key] = s.Revision;
            }
        }
    }

    /// <summary>Applies one change of the store feed under events/ (a new event, or a pruned one).</summary>
    public void Apply(WatchEvent change)
    {
        var key = change.Item.Key;
        lock (_gate)
        {
            if (change.Type == WatchEventType.Delete)
            {
                if (_revisionByKey.Remove(key, out var revision))
                {
                    // A transaction may record several events at one revision: find this key among them.
                    for (var i = FirstAfter(revision - 1); i < _history.Count && _history[i].Revision == revision; i++)
                    {
                        if (_history[i].Key == key && !_history[i].Removed)
                        {
                            _history[i].Removed = true;
                            if (++_removed > 1024 && _removed > _history.Count / 2)
                            {
                                _history.RemoveAll(h => h.Removed);
                                _removed = 0;
                            }

                            break;
                        }
                    }
                }

                return;
            }

            if (_revisionByKey.ContainsKey(key) || (Own(change.Item) ?? Parse(change.Item)) is not { } s)
            {
                // Events are written once; a second put of the same key is a retried write, not a new event.
                return;
            }

            // Almost always an append; a replay after a reload can land in the middle.
            _history.Insert(FirstAfter(s.Revision), s);
            _revisionByKey[key] = s.Revision;
        }
    }

    /// <summary>The newest <paramref name="limit"/> events after revision <paramref name="after"/> that match, oldest first.</summary>
    public IReadOnlyList<RegistryEvent> List(long after, int limit, string? service, string? type)
    {
        var result = new List<RegistryEvent>(Math.Min(limit, 256));
        lock (_gate)
        {
            for (var i = _history.Count - 1; i >= 0 && result.Count < limit; i--)
            {
                var s = _history[i];
                if (s.Revision <= after)
                {
                    break;
                }

                if (!s.Removed && (service is null || s.Event.Service == service) && (type is null || s.Event.Type == type))
                {
                    result.Add(s.Event);
                }
            }
        }

        result.Reverse();
        return result;
    }

    /// <summary>Every retained event of <paramref name="service"/> (all when null), in revision order.</summary>
    public IReadOnlyList<RegistryEvent> History(string? service)
    {
        lock (_gate)
        {
            return _history.Where(s => !s.Removed && (service is null || s.Event.Service == service)).Select(s => s.Event).ToList();
        }
    }

    public static RegistryEvent? Read(KeyValue kv)
    {
        try
        {
            return JsonSerializer.Deserialize<RegistryEvent>(kv.Value.Span, HaloJson.Options) is { } e ? e with { Revision = kv.ModRevision } : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// Deletes each kind's oldest events beyond <see cref="ServerOptions.EventRetention"/>. Idempotent, so two servers
    /// pruning at once delete the same keys and nothing else.
    /// </summary>
    public async Task<int> PruneAsync(CancellationToken cancellationToken)
    {
        List<string> doomed;
        lock (_gate)
        {
            doomed = _history.Where(s => !s.Removed).GroupBy(s => s.Kind)
                .SelectMany(kind => kind.SkipLast(options.EventRetention))
                .Select(s => s.Key)
                .ToList();
        }

        // etcd caps a transaction at 128 operations by default.
        foreach (var chunk in doomed.Chunk(100))
        {
            await store.TxnAsync(new TxnRequest([], [.. chunk.Select(TxnOp.Delete)], []), cancellationToken).ConfigureAwait(false);
        }

        return doomed.Count;
    }

    /// <summary>This server's own event coming back on the feed, without parsing it; null when it is not one.</summary>
    private Stored? Own(KeyValue kv) =>
        _appended.TryRemove(kv.Key, out var e) ? Entry(kv, e with { Revision = kv.ModRevision }) : null;

    private static Stored? Parse(KeyValue kv) => Read(kv) is { } e ? Entry(kv, e) : null;

    private static Stored Entry(KeyValue kv, RegistryEvent e)
    {
        var rest = kv.Key.AsSpan(RegistryKeys.EventsPrefix.Length);
        var slash = rest.IndexOf('/');
        return new Stored(kv.ModRevision, kv.Key, slash > 0 ? rest[..slash].ToString() : Kinds.Legacy, e);
    }

    /// <summary>Index of the first event with a revision above <paramref name="revision"/> (the count when none).</summary>
    private int FirstAfter(long revision)
    {
        if (_history.Count == 0 || _history[^1].Revision <= revision)
        {
            return _history.Count;
        }

        int lo = 0, hi = _history.Count;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (_history[mid].Revision <= revision)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }
}
