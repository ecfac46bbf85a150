using System.Text.Json;
using System.Text.Json.Serialization;

namespace Halo.Store;

/// <summary>
/// The whole durable state of a store, read at one revision, in a file any store can load: how a control plane moves
/// from the embedded store to etcd (or back), and a backup. Keys attached to a lease (server membership, primaries'
/// lease markers) are left out: they describe who is alive now, which a restored store must learn afresh.
/// </summary>
public sealed record StoreSnapshot
{
    public const string CurrentFormat = "halo-snapshot/1";

    /// <summary>Largest transaction a restore writes (etcd refuses more than 128 operations by default).</summary>
    private const int Chunk = 100;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = false };

    [JsonRequired]
    public string Format { get; init; } = CurrentFormat;

    /// <summary>The source store's revision the snapshot was read at.</summary>
    public long Revision { get; init; }

    public DateTimeOffset TakenAt { get; init; }

    /// <summary>Every key, in the order it was last written in the source (so restored events keep their order).</summary>
    [JsonRequired]
    public IReadOnlyList<Entry> Keys { get; init; } = [];

    /// <summary>
    /// One key, its value (base64 in the file: values are bytes) and the source revision that last wrote it: keys that
    /// shared a revision are restored in one transaction, keys that did not are not, so the restored store keeps the
    /// source's order and its grouping (events of one change share a revision; paging by revision relies on it).
    /// </summary>
    public sealed record Entry(string Key, byte[] Value, long ModRevision = 0);

    /// <summary>Reads every unleased key of <paramref name="store"/> in one consistent listing.</summary>
    public static async Task<StoreSnapshot> TakeAsync(IStore store, TimeProvider time, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(time);
        var all = await store.ListAsync("", cancellationToken).ConfigureAwait(false);
        return new StoreSnapshot
        {
            Revision = all.Revision,
            TakenAt = time.GetUtcNow(),
            Keys = [.. all.Items.Where(kv => kv.LeaseId == 0).OrderBy(kv => kv.ModRevision).Select(kv => new Entry(kv.Key, kv.Value.ToArray(), kv.ModRevision))],
        };
    }

    /// <summary>
    /// Writes the snapshot into <paramref name="store"/>, oldest key first, one transaction per source revision (at most 100 keys). Refuses a store
    /// that holds any key (<see cref="InvalidOperationException"/>) unless <paramref name="replace"/>, which first deletes every
    /// unleased key it holds. Returns the number of keys written.
    /// </summary>
    public async Task<int> RestoreAsync(IStore store, bool replace, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var existing = (await store.ListAsync("", cancellationToken).ConfigureAwait(false)).Items.Where(kv => kv.LeaseId == 0).ToList();
        if (existing.Count > 0)
        {
            if (!replace)
            {
                throw new InvalidOperationException($"the target store is not empty ({existing.Count} keys, e.g. {existing[0].Key})");
            }

            foreach (var chunk in existing.Chunk(Chunk))
            {
                await store.TxnAsync(new TxnRequest([], [.. chunk.Select(kv => TxnOp.Delete(kv.Key))], []), cancellationToken).ConfigureAwait(false);
            }
        }

        foreach (var batch in Batches(Keys))
        {
            await store.TxnAsync(new TxnRequest([], [.. batch.Select(e => TxnOp.Put(e.Key, e.Value))], []), cancellationToken).ConfigureAwait(false);
        }

        return Keys.Count;
    }

    /// <summary>
    /// Consecutive entries of one source revision, at most <see cref="Chunk"/> each. Entries of a file without revisions
    /// (all 0) are one group, cut at the chunk size.
    /// </summary>
    private static IEnumerable<List<Entry>> Batches(IEnumerable<Entry> entries)
    {
        var batch = new List<Entry>(Chunk);
        foreach (var e in entries)
        {
            if (batch.Count == Chunk || (batch.Count > 0 && batch[^1].ModRevision != e.ModRevision))
            {
                yield return batch;
                batch = new List<Entry>(Chunk);
            }

            batch.Add(e);
        }

        if (batch.Count > 0)
        {
            yield return batch;
        }
    }

    /// <summary>Serializes the snapshot to <paramref name="output"/> (the file format).</summary>
    public Task WriteAsync(Stream output, CancellationToken cancellationToken = default) =>
        JsonSerializer.SerializeAsync(output, this, Json, cancellationToken);

    /// <summary>Writes the snapshot to <paramref name="path"/> atomically (a temporary file renamed over it).</summary>
    public async Task WriteAsync(string path, CancellationToken cancellationToken = default)
    {
        var temporary = path + ".partial";
        await using (var file = File.Create(temporary))
        {
            await WriteAsync(file, cancellationToken).ConfigureAwait(false);
            await file.FlushAsync(cancellationToken).ConfigureAwait(false);
            file.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Reads a snapshot; <see cref="FormatException"/> naming <paramref name="source"/> and what is wrong when it is not one.</summary>
    public static async Task<StoreSnapshot> ReadAsync(Stream input, string source, CancellationToken cancellationToken = default)
    {
        StoreSnapshot? snapshot;
        try
        {
            snapshot = await JsonSerializer.DeserializeAsync<StoreSnapshot>(input, Json, cancellationToken).ConfigureAwait(false);
        }
        catch (JsonException ex)
        {
            throw new FormatException($"{source} is not a Halo snapshot: {ex.Message}", ex);
        }

        if (snapshot is null || snapshot.Format != CurrentFormat)
        {
            throw new FormatException($"{source} is not a Halo snapshot (format '{snapshot?.Format}', expected '{CurrentFormat}')");
        }

        if (snapshot.Keys is null || snapshot.Keys.Any(e => string.IsNullOrEmpty(e?.Key) || e.Value is null))
        {
            throw new FormatException($"{source} is not a Halo snapshot: a key entry has no key or no value");
        }

        return snapshot;
    }

    /// <summary>Reads a snapshot file.</summary>
    public static async Task<StoreSnapshot> ReadAsync(string path, CancellationToken cancellationToken = default)
    {
        await using var file = File.OpenRead(path);
        return await ReadAsync(file, path, cancellationToken).ConfigureAwait(false);
    }
}
