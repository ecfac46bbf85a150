using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Text.Json;
using Halo.Core.Failover;
using Halo.Core.Registry;
using Halo.Core.Serialization;
using Halo.Server.Events;
using Halo.Store;
using Microsoft.Extensions.Logging;

namespace Halo.Server.Groups;

/// <summary>
/// Every group's policy, members and leader, loaded from the store once and then kept current: policies and leader
/// records are written through to the store, member reports (several a second) live in memory.
/// </summary>
internal sealed class GroupRegistry
{
    private readonly ConcurrentDictionary<string, GroupRuntime> _groups = new(StringComparer.Ordinal);
    private readonly IStore _store;
    private readonly EventLog _events;
    private readonly TimeProvider _time;
    private readonly ILogger<GroupRegistry> _logger;
    private readonly Lazy<Task> _loaded;
    private readonly SemaphoreSlim _signal = new(0);

    public GroupRegistry(IStore store, EventLog events, TimeProvider time, GroupMetrics metrics, ILogger<GroupRegistry> logger)
    {
        _store = store;
        _events = events;
        _time = time;
        _logger = logger;
        _loaded = new Lazy<Task>(() => LoadAsync(CancellationToken.None));
        metrics.Observe(
            () => _groups.Values.Select(g => new Measurement<long>(g.Leader?.Epoch ?? 0, new KeyValuePair<string, object?>("group", g.Name))),
            () => _groups.Values.Select(g => new Measurement<int>(g.Leader is not null && g.Confirmed ? 1 : 0, new KeyValuePair<string, object?>("group", g.Name))));
    }

    public IStore Store => _store;
    public EventLog Events => _events;
    public TimeProvider Time => _time;

    public IEnumerable<GroupRuntime> All => _groups.Values.OrderBy(g => g.Name, StringComparer.Ordinal);

    /// <summary>Released by reports that may change a decision, so the controller reacts in milliseconds, not at its next tick.</summary>
    public SemaphoreSlim Signal => _signal;

    public Task EnsureLoadedAsync() => _loaded.Value;

    public GroupRuntime? Find(string name) => _groups.TryGetValue(name, out var g) ? g : null;

    private async Task LoadAsync(CancellationToken ct)
    {
        var all = await _store.ListAsync(GroupKeys.Prefix, ct).ConfigureAwait(false);
        // Versions start from the clock so a watcher that saw a previous server's version is answered at once, never stuck.
        var version = _time.GetUtcNow().ToUnixTimeMilliseconds() * 1000;
        foreach (var kv in all.Items.Where(k => k.Key.EndsWith("/policy", StringComparison.Ordinal)))
        {
            if (GroupKeys.TryParse(kv.Key, out var name, out _) && Deserialize<GroupPolicy>(kv) is { } policy)
            {
                _groups[name] = new GroupRuntime(name, policy, version);
            }
        }

        foreach (var kv in all.Items)
        {
            if (!GroupKeys.TryParse(kv.Key, out var name, out var rest) || Find(name) is not { } g)
            {
                continue;
            }

            if (rest == "leader" && StoreLeaderRecords.Parse(kv) is { } leader)
            {
                g.Leader = leader;
                g.LeaderRevision = kv.ModRevision;
            }
            else if (rest == "sync" && Deserialize<SyncRecord>(kv) is { } sync)
            {
                g.Sync.Load(sync, kv.ModRevision);
            }
            else if (rest.StartsWith("members/", StringComparison.Ordinal) && Deserialize<MemberRecord>(kv) is { } m)
            {
                g.Members[rest["members/".Length..]] = new MemberRuntime(rest["members/".Length..], m.Address);
            }
        }
    }

    /// <summary>Creates or updates a group's policy. Returns true when the group is new.</summary>
    public async Task<bool> PutPolicyAsync(string name, GroupPolicy policy, string? eventType, CancellationToken ct)
    {
        await EnsureLoadedAsync().ConfigureAwait(false);
        var ops = new List<TxnOp> { TxnOp.Put(GroupKeys.Policy(name), JsonSerializer.SerializeToUtf8Bytes(policy, HaloJson.Options)) };
        if (eventType is not null)
        {
            ops.Add(_events.Append(new RegistryEvent { Type = eventType, Time = _time.GetUtcNow(), Service = name, Cause = "by request" }));
        }

        await _store.TxnAsync(new TxnRequest([], ops, []), ct).ConfigureAwait(false);
        var created = false;
        var g = _groups.GetOrAdd(name, n =>
        {
            created = true;
            return new GroupRuntime(n, policy, _time.GetUtcNow().ToUnixTimeMilliseconds() * 1000);
        });
        lock (g.Gate)
        {
            g.Policy = policy;
            g.Bump();
        }

        _signal.Release();
        return created;
    }

    /// <summary>Records a report and answers with the member's assignment, renewing the primary's lease when the report is from it.</summary>
    public async Task<Assignment> ReportAsync(GroupRuntime g, string member, MemberReport report, CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        bool persist, renew, wake;
        long leaseId;
        lock (g.Gate)
        {
            persist = !g.Members.TryGetValue(member, out var m) || m.Address != report.Address;
            m ??= g.Members[member] = new MemberRuntime(member, report.Address);
            m.Address = report.Address;
            var before = m.Report;
            var stale = now - m.LastReport > g.Policy.MemberTimeout;
            m.Report = report;
            m.LastReport = now;
            if (!report.DbUp)
            {
                m.DbDownSince ??= now;
            }
            else
            {
                m.DbDownSince = null;
            }

            if (g.Drill is { } d && d.Member == member && report.DrillDone >= d.Id)
            {
                g.Drill = null;
            }

            var leader = g.Leader;
            renew = leader is not null && leader.Member == member && leader.Epoch == report.Epoch;
            leaseId = leader?.LeaseId ?? 0;
            if (renew && report.Role == MemberRole.Primary && !report.Fenced && !g.Confirmed)
            {
                g.Confirmed = true;
                if (g.LastFailover is { PromotedAt: null } f && f.Epoch == leader!.Epoch)
                {
                    g.LastFailover = f with { PromotedAt = now };
                    GroupLog.Promoted(_logger, g.Name, member, f.Epoch, (now - f.DetectedAt).TotalSeconds);
                    Promoted?.Invoke(g.Name, now - f.DetectedAt);
                }
            }

            wake = persist || stale || before is null || before.Role != report.Role || before.DbUp != report.DbUp || before.Healthy != report.Healthy ||
                   before.Fenced != report.Fenced || before.Epoch != report.Epoch || before.SynchronousStandbys != report.SynchronousStandbys ||
                   !(before.StreamingStandbys ?? []).SequenceEqual(report.StreamingStandbys ?? []);
            if (wake)
            {
                if (before?.DbUp == true && !report.DbUp)
                {
                    GroupLog.DatabaseDown(_logger, g.Name, member);
                }

                g.Bump();
            }
        }

        if (wake || g.AwaitingReportsSince is not null)
        {
            _signal.Release();
        }

        if (persist)
        {
            await _store.PutAsync(GroupKeys.Member(g.Name, member), JsonSerializer.SerializeToUtf8Bytes(new MemberRecord(report.Address), HaloJson.Options), 0, ct).ConfigureAwait(false);
        }

        var renewed = renew && await _store.KeepAliveAsync(leaseId, ct).ConfigureAwait(false);
        lock (g.Gate)
        {
            // The lease renewed belongs to the epoch the report named; if the leader changed meanwhile, the renewal counts for nothing.
            return g.AssignmentFor(member, renewed && g.Leader?.LeaseId == leaseId);
        }
    }

    /// <summary>Raised when a new primary confirms its promotion, with the time since the failure was detected.</summary>
    public event Action<string, TimeSpan>? Promoted;

    private static T? Deserialize<T>(KeyValue kv)
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

    private sealed record MemberRecord(string Address);
}
