using System.Text.Json;
using Halo.Core.Registry;
using Halo.Core.Serialization;
using Halo.Server.Registry;
using Halo.Store;

namespace Halo.Server.Events;

/// <summary>
/// The event history, kept in the store under events/ so it is as durable as the registry and written in the
/// same transaction as the change it explains: an event exists exactly when its change does.
/// </summary>
internal sealed class EventLog(IStore store, ServerOptions options)
{
    private long _sequence;

    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        var existing = await store.ListAsync(RegistryKeys.EventsPrefix, cancellationToken).ConfigureAwait(false);
        long last = 0;
        if (existing.Items.Count > 0 && long.TryParse(existing.Items[^1].Key.AsSpan(RegistryKeys.EventsPrefix.Length), out var parsed))
        {
            last = parsed;
        }

        Interlocked.Exchange(ref _sequence, last);
    }

    /// <summary>A store operation that records <paramref name="e"/>; include it in the transaction of the change.</summary>
    public TxnOp Append(RegistryEvent e) =>
        TxnOp.Put(RegistryKeys.Event(Interlocked.Increment(ref _sequence)), JsonSerializer.SerializeToUtf8Bytes(Security.AuditScope.Stamp(e), HaloJson.Options));

    public async Task<IReadOnlyList<RegistryEvent>> ListAsync(long after, int limit, string? service, string? type, CancellationToken cancellationToken)
    {
        var all = await store.ListAsync(RegistryKeys.EventsPrefix, cancellationToken).ConfigureAwait(false);
        var result = new List<RegistryEvent>();
        // Revision order, not key order: sequence numbers are taken before commit, so concurrent writers can commit
        // them out of order, and a client paging with `after` must never skip one.
        foreach (var kv in all.Items.OrderBy(kv => kv.ModRevision))
        {
            if (kv.ModRevision <= after || Read(kv) is not { } e)
            {
                continue;
            }

            if ((service is null || e.Service == service) && (type is null || e.Type == type))
            {
                result.Add(e);
            }
        }

        // The newest `limit` events, oldest first: what an operator asking "what happened lately" wants.
        return result.Count > limit ? result[^limit..] : result;
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

    /// <summary>Deletes the oldest events beyond the retention limit.</summary>
    public async Task<int> PruneAsync(CancellationToken cancellationToken)
    {
        var all = await store.ListAsync(RegistryKeys.EventsPrefix, cancellationToken).ConfigureAwait(false);
        var excess = all.Items.Count - options.EventRetention;
        if (excess <= 0)
        {
            return 0;
        }

        var ops = all.Items.OrderBy(kv => kv.ModRevision).Take(excess).Select(kv => TxnOp.Delete(kv.Key)).ToList();
        // etcd caps a transaction at 128 operations by default.
        foreach (var chunk in ops.Chunk(100))
        {
            await store.TxnAsync(new TxnRequest([], chunk, []), cancellationToken).ConfigureAwait(false);
        }

        return excess;
    }
}
