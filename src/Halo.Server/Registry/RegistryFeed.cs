using System.Runtime.CompilerServices;
using System.Text.Json;
using Halo.Core.Registry;
using Halo.Core.Serialization;
using Halo.Server.Api;
using Halo.Store;

namespace Halo.Server.Registry;

/// <summary>
/// The registry's reads straight from the store (docs/api.md): the catalog with the exact revision it was read at, and the
/// change feed from a revision on, ending with a "reset" message when that history was compacted away. One owner of these
/// reads, so the endpoints only route and validate.
/// </summary>
internal sealed class RegistryFeed(IStore store)
{
    /// <summary>Every instance record and the revision of that listing: a feed resumed from it misses nothing.</summary>
    public async Task<(long Revision, List<InstanceRecord> Instances)> CatalogAsync(CancellationToken cancellationToken)
    {
        // Read from the store, not the registry's view: the revision must match the listing exactly.
        var all = await store.ListAsync(RegistryKeys.InstancesPrefix, cancellationToken).ConfigureAwait(false);
        return (all.Revision, all.Items.Select(InstanceRegistry.ReadRecord).OfType<InstanceRecord>().ToList());
    }

    /// <summary>The newest revision: where a feed started without a position begins.</summary>
    public Task<long> RevisionAsync(CancellationToken cancellationToken) => store.GetRevisionAsync(cancellationToken);

    /// <summary>
    /// The changes to the instances of <paramref name="service"/> (all services when null) after <paramref name="after"/>, as
    /// server-sent events: "put" with the record, "delete" with its service, id and revision; "reset" when the history
    /// from <paramref name="after"/> was compacted (the client re-reads the catalog).
    /// </summary>
    public async IAsyncEnumerable<ServerSentEvents.Message> ChangesAsync(
        string? service, long after, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var prefix = service is null ? RegistryKeys.InstancesPrefix : RegistryKeys.ServicePrefix(service);
        var compacted = false;
        var changes = store.WatchAsync(prefix, after, cancellationToken).GetAsyncEnumerator(cancellationToken);
        try
        {
            while (true)
            {
                WatchEvent change;
                try
                {
                    if (!await changes.MoveNextAsync().ConfigureAwait(false))
                    {
                        break;
                    }

                    change = changes.Current;
                }
                catch (RevisionCompactedException)
                {
                    compacted = true;
                    break;
                }

                if (!RegistryKeys.TryParseInstance(change.Item.Key, out var svc, out var id))
                {
                    continue;
                }

                var data = change.Type == WatchEventType.Put && InstanceRegistry.ReadRecord(change.Item) is { } record
                    ? JsonSerializer.Serialize(record, HaloJson.Options)
                    : JsonSerializer.Serialize(new { service = svc, id, revision = change.Item.ModRevision }, HaloJson.Options);
                yield return new ServerSentEvents.Message(change.Type == WatchEventType.Put ? "put" : "delete", change.Item.ModRevision, data);
            }
        }
        finally
        {
            await changes.DisposeAsync().ConfigureAwait(false);
        }

        if (compacted)
        {
            var revision = await store.GetRevisionAsync(cancellationToken).ConfigureAwait(false);
            yield return new ServerSentEvents.Message("reset", revision, "{\"reason\":\"history compacted; re-read /v1/catalog\"}");
        }
    }
}
