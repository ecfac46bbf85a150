using System.Collections.Frozen;
using System.Text.Json;
using Halo.Core.Serialization;
using Halo.Store;

namespace Halo.Server.Security;

/// <summary>
/// The tokens: kept in the store under security/tokens/ (so every server sharing the store sees them), cached here as
/// an immutable snapshot swapped whole, and followed by <see cref="TokenFollower"/> so a revocation anywhere takes
/// effect everywhere within the watch's latency.
/// </summary>
public sealed class TokenService(IStore store, TimeProvider time)
{
    public const string Prefix = "security/tokens/";

    private sealed record Entry(TokenRecord Record, byte[] Hash);

    private FrozenDictionary<string, Entry> _byId = FrozenDictionary<string, Entry>.Empty;
    private FrozenDictionary<string, TokenRecord> _byKey = FrozenDictionary<string, TokenRecord>.Empty;
    private readonly Lock _gate = new();

    public IReadOnlyCollection<TokenRecord> All => _byKey.Values;

    /// <summary>The token whose secret is <paramref name="secret"/>, or null. One hash, one lookup, one constant-time compare.</summary>
    public TokenRecord? Authenticate(ReadOnlySpan<char> secret)
    {
        if (secret.Length == 0)
        {
            return null;
        }

        var hash = TokenSecret.Hash(secret);
        return _byId.TryGetValue(TokenSecret.Id(hash), out var entry) && TokenSecret.Matches(hash, entry.Hash) ? entry.Record : null;
    }

    public TokenRecord? Find(string nameOrId) =>
        _byKey.TryGetValue(Prefix + nameOrId, out var byName) ? byName
        : _byId.TryGetValue(nameOrId, out var byId) ? byId.Record
        : null;

    public async Task<long> LoadAsync(CancellationToken ct)
    {
        var all = await store.ListAsync(Prefix, ct).ConfigureAwait(false);
        lock (_gate)
        {
            var byKey = new Dictionary<string, TokenRecord>(StringComparer.Ordinal);
            foreach (var kv in all.Items)
            {
                if (Read(kv) is { } record)
                {
                    byKey[kv.Key] = record;
                }
            }

            Publish(byKey);
        }

        return all.Revision;
    }

    public void Apply(WatchEvent change)
    {
        lock (_gate)
        {
            var byKey = new Dictionary<string, TokenRecord>(_byKey, StringComparer.Ordinal);
            if (change.Type == WatchEventType.Put && Read(change.Item) is { } record)
            {
                byKey[change.Item.Key] = record;
            }
            else
            {
                byKey.Remove(change.Item.Key);
            }

            Publish(byKey);
        }
    }

    /// <summary>Creates a token; returns its secret (shown once), or null when the name is taken.</summary>
    public async Task<(TokenRecord Record, string Secret)?> CreateAsync(TokenRecord template, string? secret, CancellationToken ct)
    {
        secret ??= TokenSecret.New();
        var hash = TokenSecret.Hash(secret);
        var record = template with { Id = TokenSecret.Id(hash), Hash = Convert.ToHexStringLower(hash), Created = time.GetUtcNow() };
        var key = Prefix + record.Name;
        var value = JsonSerializer.SerializeToUtf8Bytes(record, HaloJson.Options);
        var result = await store.TxnAsync(new TxnRequest([Compare.Missing(key)], [TxnOp.Put(key, value)], []), ct).ConfigureAwait(false);
        if (!result.Succeeded)
        {
            return null;
        }

        Apply(new WatchEvent(WatchEventType.Put, new KeyValue(key, value, result.Revision, result.Revision, 1, 0)));
        return (record, secret);
    }

    /// <summary>Revokes by name or id; false when no such token. Takes effect on this server before it returns.</summary>
    public async Task<TokenRecord?> RevokeAsync(string nameOrId, CancellationToken ct)
    {
        if (Find(nameOrId) is not { } record)
        {
            return null;
        }

        var key = Prefix + record.Name;
        var deleted = await store.DeleteAsync(key, cancellationToken: ct).ConfigureAwait(false);
        Apply(new WatchEvent(WatchEventType.Delete, new KeyValue(key, default, 0, deleted.Revision, 0, 0)));
        return record;
    }

    private void Publish(Dictionary<string, TokenRecord> byKey)
    {
        _byKey = byKey.ToFrozenDictionary(StringComparer.Ordinal);
        var byId = new Dictionary<string, Entry>(StringComparer.Ordinal);
        foreach (var r in byKey.Values)
        {
            byId[r.Id] = new Entry(r, Convert.FromHexString(r.Hash));
        }

        _byId = byId.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private static TokenRecord? Read(KeyValue kv)
    {
        try
        {
            var record = JsonSerializer.Deserialize<TokenRecord>(kv.Value.Span, HaloJson.Options);
            return record is { Hash.Length: 64 } ? record : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
