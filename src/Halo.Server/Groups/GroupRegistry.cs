using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Diagnostics.Metrics;
using System.Text.Json;
using Halo.Core.Failover;
using Halo.Core.Serialization;
using Halo.Server.Cluster;
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

    private readonly bool _clustered;

    // Each group's leader record as last seen here (the start-up load, then the store's feed), for answers from the store.
    private readonly ConcurrentDictionary<string, VersionedLeader> _leaders = new(StringComparer.Ordinal);

    public GroupRegistry(
        IStore store, EventLog events, TimeProvider time, GroupsOptions options, GroupMetrics metrics, ServerOptions server, ServerMembership membership,
        ILogger<GroupRegistry> logger)
    {
        Time = time;
        _clustered = server.Cluster;
        Lease = new GroupLease(store);
        _context = new GroupContext(store, events, time, options, metrics, logger, () => Signal.Release(), () => membership.Current.Fence, Lease);
        _loaded = new Lazy<Task>(() => LoadAsync(CancellationToken.None));
        metrics.Observe(
            () => _groups.Values.Select(g => g.State).Select(s => new Measurement<long>(s.Leader?.Epoch ?? 0, new KeyValuePair<string, object?>("group", s.Name))),
            () => _groups.Values.Select(g => g.State).Select(s => new Measurement<int>(s.Leader is not null && s.Confirmed ? 1 : 0, new KeyValuePair<string, object?>("group", s.Name))));
    }

    public TimeProvider Time { get; }

    /// <summary>The one path by which this server renews primaries' leases (<see cref="GroupLease"/>).</summary>
    public GroupLease Lease { get; }

    public IEnumerable<GroupActor> All => _groups.Values.OrderBy(g => g.Name, StringComparer.Ordinal);

    /// <summary>Released by changes that may alter a decision, so the controller reacts in milliseconds, not at its next tick.</summary>
    public SemaphoreSlim Signal { get; } = new(0);

    public Task EnsureLoadedAsync() => _loaded.Value;

    public GroupActor? Find(string name) => _groups.TryGetValue(name, out var g) ? g : null;

    private async Task LoadAsync(CancellationToken ct)
    {
        var all = await _context.Store.ListAsync(GroupKeys.Prefix, ct).ConfigureAwait(false);
        foreach (var (name, state) in Build(all.Items, 0))
        {
            SawLeader(name, new VersionedLeader(state.Leader, state.LeaderRevision));
            var actor = new GroupActor(_context, state, all.Revision);
            if (!_clustered)
            {
                // One server: what it loaded is the truth, and it decides every group; its numbering starts above the last run's.
                await actor.StartDecidingAsync(ct).ConfigureAwait(false);
            }

            _groups[name] = actor;
        }
    }

    /// <summary>The groups that <paramref name="items"/> (keys under groups/) describe, as the store holds them.</summary>
    internal static Dictionary<string, GroupState> Build(IReadOnlyList<KeyValue> items, long version)
    {
        var states = new Dictionary<string, GroupState>(StringComparer.Ordinal);
        foreach (var kv in items.Where(k => k.Key.EndsWith("/policy", StringComparison.Ordinal)))
        {
            if (GroupKeys.TryParse(kv.Key, out var name, out _) && Deserialize<GroupPolicy>(kv) is { } policy)
            {
                states[name] = new GroupState { Name = name, Policy = policy, PolicyRevision = kv.ModRevision, Version = version };
            }
        }

        var confirmed = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var kv in items)
        {
            if (!GroupKeys.TryParse(kv.Key, out var name, out var rest) || !states.TryGetValue(name, out var s))
            {
                continue;
            }

            if (rest == "leader" && StoreLeaderRecords.Parse(kv) is { } leader)
            {
                states[name] = s with { Leader = leader, LeaderRevision = kv.ModRevision };
            }
            else if (rest == "confirmed")
            {
                confirmed[name] = GroupActor.ParseConfirmed(kv);
            }
            else if (rest == "decided" && DecidedRecord.Parse(kv) is { } decided)
            {
                states[name] = s with { LastFailover = decided.LastFailover, Pending = decided.Pending, Drill = decided.Drill };
            }
            else if (rest == "failsafe" && Deserialize<FailsafeRecord>(kv) is { } failsafe)
            {
                states[name] = s with { Failsafe = failsafe };
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

        foreach (var (name, epoch) in confirmed)
        {
            // The primary confirmed its promotion in the epoch the record still names: proxies may keep routing to it.
            states[name] = states[name] with { Confirmed = states[name].Leader?.Epoch == epoch };
        }

        return states;
    }

    /// <summary>
    /// Makes this server the decider of <paramref name="group"/> if it is not yet: reads the group afresh from the store and
    /// starts the handoff grace (with several servers; a single server already holds the truth).
    /// </summary>
    public async Task AcquireAsync(GroupActor group, CancellationToken ct)
    {
        if (group.Owned)
        {
            return;
        }

        if (!_clustered)
        {
            group.Own();
            return;
        }

        var listing = await _context.Store.ListAsync(GroupKeys.Of(group.Name), ct).ConfigureAwait(false);
        if (!Build(listing.Items, 0).TryGetValue(group.Name, out var fresh))
        {
            return; // deleted meanwhile; the feed removes it
        }

        if (!await group.AcquireAsync(fresh, listing.Revision, Time.GetUtcNow() + _context.Options.HandoffGrace, ct).ConfigureAwait(false))
        {
            return; // another caller took it over a moment ago and said so
        }

        GroupLog.Acquired(_context.Logger, group.Name, fresh.Leader?.Epoch ?? 0, fresh.Leader?.Member, fresh.Confirmed, _context.Options.HandoffGrace.TotalSeconds);
    }

    /// <summary>
    /// Follows groups created and deleted through other servers (from the store's feed), so every server knows every group and
    /// can take one over. Their state is read afresh when this server becomes their decider.
    /// </summary>
    public void Apply(WatchEvent change)
    {
        if (!_clustered || !GroupKeys.TryParse(change.Item.Key, out var name, out var rest))
        {
            return;
        }

        if (rest == "leader")
        {
            SawLeader(name, new VersionedLeader(change.Type == WatchEventType.Delete ? null : StoreLeaderRecords.Parse(change.Item), change.Item.ModRevision));
            return;
        }

        if (rest != "policy")
        {
            return;
        }

        if (change.Type == WatchEventType.Delete)
        {
            if (_groups.TryGetValue(name, out var gone) && !gone.Owned)
            {
                _groups.TryRemove(new KeyValuePair<string, GroupActor>(name, gone));
            }
        }
        else if (!_groups.ContainsKey(name) && Deserialize<GroupPolicy>(change.Item) is { } policy)
        {
            _groups.TryAdd(name, new GroupActor(_context, new GroupState { Name = name, Policy = policy, PolicyRevision = change.Item.ModRevision }, change.Item.ModRevision));
        }
    }

    /// <summary>
    /// The group's leader record as this server last saw it (its start-up load and the store's feed; it may lag the store), or
    /// null. Only a hint: <see cref="GroupRouter.AnswerFromStoreAsync(string, string, MemberReport, CancellationToken)"/>
    /// renews a lease early with it, and counts that renewal only when the store still holds exactly this record.
    /// </summary>
    public VersionedLeader? LastLeader(string group) => _leaders.TryGetValue(group, out var seen) ? seen : null;

    private void SawLeader(string group, VersionedLeader seen) =>
        _leaders.AddOrUpdate(group, seen, (_, old) => seen.Revision > old.Revision ? seen : old);

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

            var actor = new GroupActor(_context, new GroupState { Name = name, Policy = policy }, 0);
            var state = await actor.UpdatePolicyAsync(_ => policy, ifMatch ?? 0, null, ct).ConfigureAwait(false);
            if (state is not null)
            {
                actor.Own(); // created here, so requests for it reach this server: it decides it
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
            Lease.Forget(group.Name);
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
