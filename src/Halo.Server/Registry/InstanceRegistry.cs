using System.Collections.Concurrent;
using System.Text.Json;
using Halo.Core.Configuration;
using Halo.Core.Detection;
using Halo.Core.Registry;
using Halo.Core.Serialization;
using Halo.Server.Cluster;
using Halo.Server.Events;
using Halo.Server.Telemetry;
using Halo.Store;
using Microsoft.Extensions.Logging;

namespace Halo.Server.Registry;

/// <summary>
/// The service registry on this server: a <see cref="ServiceShard"/> per service (the one place instance state changes),
/// kept in step with the store, and every write to the store. A change is a compare-and-set on the instance's key together
/// with its event, so it is acknowledged only once durable and two writers never overwrite each other unknowingly. Verdicts
/// (health, removal, the brake) are written only by the service's owner and also compare the owner's membership key
/// (<see cref="MembershipView.Fence"/>), so a server that lost its lease cannot publish after its services moved.
/// Heartbeats are never written: the owner keeps them in memory; another server forwards them to it.
/// </summary>
internal sealed partial class InstanceRegistry(
    IStore store, EventLog events, ChangeIndex index, RegistryMetrics metrics, ServerOptions options, ServerMembership membership,
    HeartbeatForwarder forwarder, TimeProvider time, ILogger<InstanceRegistry> logger)
{
    private const int MaxConflictRetries = 8;
    private readonly ConcurrentDictionary<string, ServiceShard> _shards = new(StringComparer.Ordinal);

    // Services with at least one instance, kept by the shards: counting them walked (and locked) every shard on each registration.
    private int _occupied;

    // Records this server is writing, by key, with the bytes written, until they come back on the feed or the write returns.
    // The store publishes a commit to its feed before it answers the writer, so the feed follower often sees a registration
    // before the request applies it, and parsed the JSON just written (~0.7 % of a registration's server CPU, profiled,
    // docs/performance.md session 10). Taken only when the bytes on the feed are exactly the bytes written.
    private readonly ConcurrentDictionary<string, Written> _writing = new(StringComparer.Ordinal);

    private sealed record Written(byte[] Bytes, InstanceRecord Record);

    public TimeProvider Time => time;

    public async Task<long> LoadAsync(CancellationToken cancellationToken)
    {
        var all = await store.ListAsync(RegistryKeys.InstancesPrefix, cancellationToken).ConfigureAwait(false);
        var now = time.GetUtcNow();
        foreach (var kv in all.Items)
        {
            if (ReadRecord(kv) is { } record)
            {
                // After a restart every instance gets a fresh grace period: the server was not listening,
                // so missed heartbeats are not the instance's fault (Eureka does the same on start-up).
                Shard(record.Service).Apply(record, now);
                index.Bump(record.Service, kv.ModRevision);
            }
        }

        index.Bump("", all.Revision);
        return all.Revision;
    }

    public DetectorOptions BaselineDetector(string service) =>
        options.ServiceDetectors.TryGetValue(service, out var d) ? d : options.DefaultDetector;

    public DetectorOptions DetectorFor(InstanceRecord record) =>
        (record.Detector ?? BaselineDetector(record.Service)) with { HeartbeatInterval = record.Ttl };

    /// <summary>Services with at least one instance.</summary>
    public IEnumerable<string> ServiceNames => _shards.Values.Where(s => !s.IsEmpty).Select(s => s.Name);

    /// <summary>Every shard, its ownership brought up to date with the current membership.</summary>
    public IEnumerable<ServiceShard> Shards()
    {
        var now = time.GetUtcNow();
        foreach (var shard in _shards.Values)
        {
            EnsureSynced(shard, now);
            yield return shard;
        }
    }

    /// <summary>Restarts the grace period of every instance this server judges (<see cref="ServiceShard.RestartGrace"/>): once it listens after a start.</summary>
    public void RestartGrace()
    {
        var now = time.GetUtcNow();
        foreach (var shard in Shards())
        {
            shard.RestartGrace(now);
        }
    }

    public IReadOnlyCollection<InstanceEntry> Entries(string service) =>
        _shards.TryGetValue(service, out var s) ? (IReadOnlyCollection<InstanceEntry>)s.Entries : [];

    public bool TryGet(string service, string id, out InstanceEntry entry)
    {
        entry = null!;
        return _shards.TryGetValue(service, out var s) && s.TryGet(id, out entry);
    }

    public bool IsBrakeEngaged(string service) => _shards.TryGetValue(service, out var s) && s.IsBrakeEngaged;

    /// <summary>The record as the API shows it: with the detector it is judged by, and its last heartbeat where this server judges it.</summary>
    public InstanceRecord View(InstanceRecord record) =>
        TryGet(record.Service, record.Id, out var entry)
            ? record with { LastHeartbeat = entry.Liveness?.Health.LastHeartbeat, Detector = entry.Liveness?.Detector ?? DetectorFor(record) }
            : record;

    /// <summary>
    /// The server.limits key a registration of <paramref name="service"/>/<paramref name="id"/> would exceed, with why, or
    /// null. Only a new instance or a new service counts; judged on this server's view, so registrations in flight at the
    /// same moment (or through other servers sharing the store) may pass the cap by a few.
    /// </summary>
    public (string Key, string Detail)? CapacityRefusal(string service, string id, LimitOptions limits)
    {
        if (_shards.TryGetValue(service, out var shard) && !shard.IsEmpty)
        {
            if (shard.TryGet(id, out _) || shard.Count < limits.MaxInstancesPerService)
            {
                return null;
            }

            return ("limits.maxInstancesPerService",
                $"service {service} already holds {limits.MaxInstancesPerService} instances (server.limits.maxInstancesPerService); deregister one first");
        }

        return Volatile.Read(ref _occupied) < limits.MaxServices
            ? null
            : ("limits.maxServices", $"the registry already holds {limits.MaxServices} services (server.limits.maxServices); {service} would be one more");
    }

    /// <summary>Registers or updates an instance. Health and draining carry over from an existing registration.</summary>
    public async Task<(InstanceRecord Record, bool Created)> RegisterAsync(InstanceRecord candidate, CancellationToken cancellationToken)
    {
        var key = RegistryKeys.Instance(candidate.Service, candidate.Id);
        for (var attempt = 0; ; attempt++)
        {
            var now = time.GetUtcNow();
            var current = TryGet(candidate.Service, candidate.Id, out var existing) ? existing.Record : null;
            var record = candidate with
            {
                Health = current?.Health ?? HealthStatus.Passing,
                Draining = current?.Draining ?? false,
                RegisteredAt = current?.RegisteredAt ?? now,
            };
            var e = new RegistryEvent
            {
                Type = EventTypes.Registered, Time = now, Service = record.Service, Instance = record.Id,
                Cause = current is null ? "registered" : "registration updated",
            };
            if (await WriteAsync(key, current?.Revision ?? 0, record, e, [], cancellationToken).ConfigureAwait(false) is { } stored)
            {
                Shard(stored.Service).Apply(stored, now, registration: true);
                metrics.Registered(stored.Service);
                LogRegistered(stored.Service, stored.Id, stored.Address, stored.Port, stored.Revision);
                return (stored, current is null);
            }

            if (attempt == MaxConflictRetries)
            {
                throw new StoreUnavailableException($"registration of {candidate.Service}/{candidate.Id} kept conflicting with other writers");
            }

            await RefreshAsync(candidate.Service, candidate.Id, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Deregisters by request; false when the instance is unknown.</summary>
    public Task<bool> DeregisterAsync(string service, string id, CancellationToken cancellationToken) =>
        DeleteAsync(service, id, "deregistered by request", EventTypes.Deregistered, [], cancellationToken);

    /// <summary>Sets or clears draining; null when the instance is unknown.</summary>
    public async Task<InstanceRecord?> DrainAsync(string service, string id, bool draining, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt <= MaxConflictRetries; attempt++)
        {
            if (!TryGet(service, id, out var entry))
            {
                return null;
            }

            var record = entry.Record;
            if (record.Draining == draining)
            {
                return record;
            }

            var e = new RegistryEvent
            {
                Type = EventTypes.Draining, Time = time.GetUtcNow(), Service = service, Instance = id,
                Cause = draining ? "drain requested: no new traffic, in-flight requests finish" : "drain cancelled",
            };
            if (await PublishAsync(record with { Draining = draining }, record.Revision, e, [], cancellationToken).ConfigureAwait(false) is { } stored)
            {
                return stored;
            }
        }

        throw new StoreUnavailableException($"the instance {service}/{id} kept changing under concurrent writers; retry");
    }

    /// <summary>
    /// A heartbeat from the instance itself. Recorded here when this server judges its service, otherwise handed to the
    /// forwarder for the owner. False when the instance is unknown (never registered, or removed).
    /// </summary>
    public bool Heartbeat(string service, string id)
    {
        if (!_shards.TryGetValue(service, out var shard) || !shard.TryGet(id, out _))
        {
            return false;
        }

        var now = time.GetUtcNow();
        var view = EnsureSynced(shard, now);
        if (shard.Owned)
        {
            shard.Heartbeat(id, now);
            metrics.Heartbeat();
        }
        else if (view.OwnerOf(service) is { } owner && owner.Id != view.Self?.Id)
        {
            forwarder.Enqueue(owner, service, id);
        }

        return true;
    }

    /// <summary>A heartbeat another server received <paramref name="age"/> ago and forwarded here; false when this server does not judge it.</summary>
    public bool ForwardedHeartbeat(string service, string id, TimeSpan age)
    {
        if (!_shards.TryGetValue(service, out var shard))
        {
            return false;
        }

        var now = time.GetUtcNow();
        EnsureSynced(shard, now);
        if (shard.Heartbeat(id, now - age))
        {
            metrics.Heartbeat();
            return true;
        }

        return false;
    }

    /// <summary>Where a caller's report goes: judged here (with the verdict), owned elsewhere, or nobody's (unknown instance, or no owner yet).</summary>
    public ReportRoute RouteReport(string service, string id, string reporter, long requests, long failures)
    {
        if (!_shards.TryGetValue(service, out var shard) || !shard.TryGet(id, out _))
        {
            return new ReportRoute(null, null, Known: false);
        }

        var now = time.GetUtcNow();
        var view = EnsureSynced(shard, now);
        if (shard.Owned)
        {
            return new ReportRoute(shard.Report(id, reporter, now, requests, failures) ?? CallerVerdict.None, null, Known: true);
        }

        return new ReportRoute(null, view.OwnerOf(service) is { } owner && owner.Id != view.Self?.Id ? owner : null, Known: true);
    }

    /// <summary>Publishes the owner's verdict on an instance's health, with its event. False when someone else changed it first or this server no longer owns it.</summary>
    public async Task<bool> PublishHealthAsync(HealthChange change, CancellationToken cancellationToken)
    {
        var record = change.Record;
        if (Fence(record.Service) is not { } fence)
        {
            return false;
        }

        var e = new RegistryEvent
        {
            Type = EventTypes.Health, Time = time.GetUtcNow(), Service = record.Service, Instance = record.Id,
            From = Wire(record.Health), To = Wire(change.To), Cause = change.Cause, Evidence = change.Evidence,
        };
        if (await PublishAsync(record with { Health = change.To }, record.Revision, e, fence, cancellationToken).ConfigureAwait(false) is null)
        {
            return false;
        }

        metrics.Transition(record.Service, record.Health, change.To);
        LogTransition(record.Service, record.Id, record.Health, change.To, change.Cause);
        return true;
    }

    /// <summary>Removes an instance critical for longer than its RemoveAfter (the owner's verdict).</summary>
    public Task<bool> RemoveAsync(InstanceRecord record, CancellationToken cancellationToken) =>
        Fence(record.Service) is { } fence
            ? DeleteAsync(record.Service, record.Id, $"critical for longer than {DetectorFor(record).RemoveAfter}", EventTypes.Removed, fence, cancellationToken)
            : Task.FromResult(false);

    /// <summary>Records a service-level event of the owner (the brake) that changes no instance.</summary>
    public async Task RecordAsync(RegistryEvent e, CancellationToken cancellationToken)
    {
        if (Fence(e.Service) is not { } fence)
        {
            return;
        }

        var result = await store.TxnAsync(new TxnRequest(fence, [events.Append(e)], []), cancellationToken).ConfigureAwait(false);
        if (result.Succeeded)
        {
            metrics.Event(e.Type);
            index.Bump(e.Service, result.Revision);
        }
    }

    /// <summary>Applies a change another writer made (seen on the store's feed); older revisions are ignored.</summary>
    public void Apply(WatchEvent change)
    {
        if (!RegistryKeys.TryParseInstance(change.Item.Key, out var service, out var id))
        {
            return;
        }

        index.Bump(service, change.Item.ModRevision);
        if (change.Type == WatchEventType.Delete)
        {
            if (_shards.TryGetValue(service, out var s))
            {
                s.Remove(id, change.Item.ModRevision);
            }
        }
        else if (TryGet(service, id, out var held) && held.Record.Revision >= change.Item.ModRevision)
        {
            // This server's own write coming back on the feed (every registration does): already applied, nothing to parse.
            return;
        }
        else if ((Own(change.Item) ?? ReadRecord(change.Item)) is { } record)
        {
            Shard(service).Apply(record, time.GetUtcNow());
        }
    }

    /// <summary>This server's own write coming back on the feed, without parsing it; null when it is not one.</summary>
    private InstanceRecord? Own(KeyValue kv) =>
        _writing.TryGetValue(kv.Key, out var written) && kv.Value.Span.SequenceEqual(written.Bytes)
            && _writing.TryRemove(new KeyValuePair<string, Written>(kv.Key, written))
            ? written.Record with { Revision = kv.ModRevision }
            : null;

    public static InstanceRecord? ReadRecord(KeyValue kv)
    {
        try
        {
            return JsonSerializer.Deserialize<InstanceRecord>(kv.Value.Span, HaloJson.Options) is { } r ? r with { Revision = kv.ModRevision } : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public static string Wire(HealthStatus health) => JsonNamingPolicy.CamelCase.ConvertName(health.ToString());

    private ServiceShard Shard(string service)
    {
        var shard = _shards.GetOrAdd(service, name => new ServiceShard(name, DetectorFor, options.CallerEvidence, options.Brake, Occupy));
        EnsureSynced(shard, time.GetUtcNow());
        return shard;
    }

    private void Occupy(int delta) => Interlocked.Add(ref _occupied, delta);

    private MembershipView EnsureSynced(ServiceShard shard, DateTimeOffset now)
    {
        var view = membership.Current;
        if (!ReferenceEquals(shard.SyncedWith, view))
        {
            shard.Sync(view, view.Owns(shard.Name), now);
        }

        return view;
    }

    /// <summary>The compares an owner's verdict on <paramref name="service"/> carries, or null when this server does not own it now.</summary>
    private IReadOnlyList<Compare>? Fence(string service)
    {
        var view = membership.Current;
        return view.Owns(service) ? view.Fence : null;
    }

    private async Task<bool> DeleteAsync(string service, string id, string cause, string type, IReadOnlyList<Compare> fence, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt <= MaxConflictRetries; attempt++)
        {
            if (!TryGet(service, id, out var entry))
            {
                return false;
            }

            var e = new RegistryEvent { Type = type, Time = time.GetUtcNow(), Service = service, Instance = id, Cause = cause, From = Wire(entry.Record.Health) };
            var result = await TxnAsync(RegistryKeys.Instance(service, id), entry.Record.Revision, null, e, fence, cancellationToken).ConfigureAwait(false);
            if (result.Succeeded)
            {
                if (_shards.TryGetValue(service, out var shard))
                {
                    shard.Remove(id, result.Revision);
                }

                index.Bump(service, result.Revision);
                metrics.Deregistered(service);
                LogDeregistered(service, id, cause);
                return true;
            }

            if (fence.Count > 0)
            {
                // An owner's verdict is not retried: the next tick decides again from what the store now holds.
                await RefreshAsync(service, id, cancellationToken).ConfigureAwait(false);
                return false;
            }

            await RefreshAsync(service, id, cancellationToken).ConfigureAwait(false);
        }

        throw new StoreUnavailableException($"deregistration of {service}/{id} kept conflicting with other writers");
    }

    /// <summary>Writes a changed record over the version at <paramref name="expectedRevision"/>; the stored record, or null when it changed first.</summary>
    private async Task<InstanceRecord?> PublishAsync(
        InstanceRecord updated, long expectedRevision, RegistryEvent e, IReadOnlyList<Compare> fence, CancellationToken cancellationToken)
    {
        var stored = await WriteAsync(RegistryKeys.Instance(updated.Service, updated.Id), expectedRevision, updated, e, fence, cancellationToken).ConfigureAwait(false);
        if (stored is null)
        {
            await RefreshAsync(updated.Service, updated.Id, cancellationToken).ConfigureAwait(false);
            return null;
        }

        Shard(stored.Service).Apply(stored, time.GetUtcNow());
        return stored;
    }

    private async Task<InstanceRecord?> WriteAsync(
        string key, long expectedRevision, InstanceRecord record, RegistryEvent e, IReadOnlyList<Compare> fence, CancellationToken cancellationToken)
    {
        var result = await TxnAsync(key, expectedRevision, record, e, fence, cancellationToken).ConfigureAwait(false);
        if (!result.Succeeded)
        {
            return null;
        }

        index.Bump(record.Service, result.Revision);
        return record with { Revision = result.Revision };
    }

    private async Task<TxnResult> TxnAsync(
        string key, long expectedRevision, InstanceRecord? record, RegistryEvent e, IReadOnlyList<Compare> fence, CancellationToken cancellationToken)
    {
        Written? written = null;
        TxnOp change;
        if (record is null)
        {
            change = TxnOp.Delete(key);
        }
        else
        {
            var stored = record with { Revision = 0 };
            written = new Written(JsonSerializer.SerializeToUtf8Bytes(stored, HaloJson.Options), stored);
            _writing[key] = written;
            change = TxnOp.Put(key, written.Bytes);
        }

        try
        {
            var result = await store.TxnAsync(
                new TxnRequest([Compare.ModRevisionIs(key, expectedRevision), .. fence], [change, events.Append(e)], [TxnOp.Get(key)]),
                cancellationToken).ConfigureAwait(false);
            if (result.Succeeded)
            {
                metrics.Event(e.Type);
            }

            return result;
        }
        finally
        {
            if (written is not null)
            {
                // Whether the follower took it or not: the caller applies its own result from here on.
                _writing.TryRemove(new KeyValuePair<string, Written>(key, written));
            }
        }
    }

    private async Task RefreshAsync(string service, string id, CancellationToken cancellationToken)
    {
        var current = await store.GetAsync(RegistryKeys.Instance(service, id), cancellationToken).ConfigureAwait(false);
        if (current.Item is null)
        {
            Apply(new WatchEvent(WatchEventType.Delete, new KeyValue(RegistryKeys.Instance(service, id), default, 0, current.Revision, 0, 0)));
        }
        else
        {
            Apply(new WatchEvent(WatchEventType.Put, current.Item));
        }
    }

    [LoggerMessage(EventId = 1001, Level = LogLevel.Debug, Message = "Registered {Service}/{Id} at {Address}:{Port} (revision {Revision})")]
    private partial void LogRegistered(string service, string id, string address, int port, long revision);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "Deregistered {Service}/{Id}: {Cause}")]
    private partial void LogDeregistered(string service, string id, string cause);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Warning, Message = "Health {Service}/{Id}: {From} -> {To} ({Cause})")]
    private partial void LogTransition(string service, string id, HealthStatus from, HealthStatus to, string cause);
}

/// <summary>Where a caller's report went: <see cref="Verdict"/> when judged here, <see cref="Owner"/> when it belongs to another server.</summary>
internal sealed record ReportRoute(CallerVerdict? Verdict, Member? Owner, bool Known);
