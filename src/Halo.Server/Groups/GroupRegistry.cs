using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Diagnostics.Metrics;
using System.Text.Json;
using Halo.Core.Failover;
using Halo.Core.Serialization;
using Halo.Server.Events;
using Halo.Store;
using Microsoft.Extensions.Logging;

namespace Halo.Server.Groups;

/// <summary>
/// The groups this server knows, one <see cref="GroupActor"/> each, loaded from the store once. The registry only finds,
/// creates and forgets actors; every change to a group is made by its actor.
/// </summary>
internal sealed class GroupRegistry
{
    private readonly ConcurrentDictionary<string, GroupActor> _groups = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _create = new(1, 1);
    private readonly GroupContext _context;
    private readonly Lazy<Task> _loaded;

    public GroupRegistry(IStore store, EventLog events, TimeProvider time, GroupsOptions options, GroupMetrics metrics, ILogger<GroupRegistry> logger)
    {
        Time = time;
        _context = new GroupContext(store, events, time, options, metrics, logger, () => Signal.Release());
        _loaded = new Lazy<Task>(() => LoadAsync(CancellationToken.None));
        metrics.Observe(
            () => _groups.Values.Select(g => g.State).Select(s => new Measurement<long>(s.Leader?.Epoch ?? 0, new KeyValuePair<string, object?>("group", s.Name))),
            () => _groups.Values.Select(g => g.State).Select(s => new Measurement<int>(s.Leader is not null && s.Confirmed ? 1 : 0, new KeyValuePair<string, object?>("group", s.Name))));
    }

    public TimeProvider Time { get; }

    public IEnumerable<GroupActor> All => _groups.Values.OrderBy(g => g.Name, StringComparer.Ordinal);

    /// <summary>Released by changes that may alter a decision, so the controller reacts in milliseconds, not at its next tick.</summary>
    public SemaphoreSlim Signal { get; } = new(0);

    public Task EnsureLoadedAsync() => _loaded.Value;

    public GroupActor? Find(string name) => _groups.TryGetValue(name, out var g) ? g : null;

    /// <summary>Starts version numbers from the clock, so a watcher that saw a previous server's version is answered at once, never stuck.</summary>
    private long InitialVersion() => Time.GetUtcNow().ToUnixTimeMilliseconds() * 1000;

    private async Task LoadAsync(CancellationToken ct)
    {
        var all = await _context.Store.ListAsync(GroupKeys.Prefix, ct).ConfigureAwait(false);
        var states = new Dictionary<string, GroupState>(StringComparer.Ordinal);
        foreach (var kv in all.Items.Where(k => k.Key.EndsWith("/policy", StringComparison.Ordinal)))
        {
            if (GroupKeys.TryParse(kv.Key, out var name, out _) && Deserialize<GroupPolicy>(kv) is { } policy)
            {
                states[name] = new GroupState { Name = name, Policy = policy, PolicyRevision = kv.ModRevision, Version = InitialVersion() };
            }
        }

        foreach (var kv in all.Items)
        {
            if (!GroupKeys.TryParse(kv.Key, out var name, out var rest) || !states.TryGetValue(name, out var s))
            {
                continue;
            }

            if (rest == "leader" && StoreLeaderRecords.Parse(kv) is { } leader)
            {
                states[name] = s with { Leader = leader, LeaderRevision = kv.ModRevision };
            }
            else if (rest == "sync" && Deserialize<SyncRecord>(kv) is { } sync)
            {
                states[name] = s with { Sync = SyncState.None with { Record = sync, Revision = kv.ModRevision } };
            }
            else if (rest.StartsWith("members/", StringComparison.Ordinal) && Deserialize<GroupActor.MemberRecord>(kv) is { } m)
            {
                var member = rest["members/".Length..];
                states[name] = s with { Members = s.Members.SetItem(member, MemberRuntime.New(member, m.Address)) };
            }
        }

        foreach (var (name, state) in states)
        {
            _groups[name] = new GroupActor(_context, state);
        }
    }

    /// <summary>
    /// Creates or updates a group's policy (compare-and-set on its store revision; with <paramref name="ifMatch"/>, only if the
    /// stored policy is still that revision). Returns the state and whether the group is new, or null state on an If-Match conflict.
    /// </summary>
    public async Task<(GroupState? State, bool Created)> PutPolicyAsync(string name, GroupPolicy policy, long? ifMatch, CancellationToken ct)
    {
        await EnsureLoadedAsync().ConfigureAwait(false);
        if (Find(name) is { } existing)
        {
            return (await existing.UpdatePolicyAsync(_ => policy, ifMatch, null, ct).ConfigureAwait(false), false);
        }

        await _create.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (Find(name) is { } raced)
            {
                return (await raced.UpdatePolicyAsync(_ => policy, ifMatch, null, ct).ConfigureAwait(false), false);
            }

            var actor = new GroupActor(_context, new GroupState { Name = name, Policy = policy, Version = InitialVersion() });
            var state = await actor.UpdatePolicyAsync(_ => policy, ifMatch ?? 0, null, ct).ConfigureAwait(false);
            if (state is not null)
            {
                _groups[name] = actor;
            }

            return (state, state is not null);
        }
        finally
        {
            _create.Release();
        }
    }

    /// <summary>Deletes a group whose members no longer report; returns null when done, or why not.</summary>
    public async Task<string?> DeleteAsync(GroupActor group, CancellationToken ct)
    {
        var refused = await group.DeleteAsync(ct).ConfigureAwait(false);
        if (refused is null)
        {
            _groups.TryRemove(new KeyValuePair<string, GroupActor>(group.Name, group));
        }

        return refused;
    }

    internal static T? Deserialize<T>(KeyValue kv)
        where T : class
    {
        try
        {
            return JsonSerializer.Deserialize<T>(kv.Value.Span, HaloJson.Options);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
