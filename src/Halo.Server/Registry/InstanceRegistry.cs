using System.Collections.Concurrent;
using System.Text.Json;
using Halo.Core.Detection;
using Halo.Core.Registry;
using Halo.Core.Serialization;
using Halo.Server.Events;
using Halo.Server.Telemetry;
using Halo.Store;
using Microsoft.Extensions.Logging;

namespace Halo.Server.Registry;

/// <summary>
/// The service registry: an in-memory view of every instance, backed by the store. Every change is a
/// compare-and-set on the instance's key together with its event, so a change is acknowledged only once
/// it is durable, and two writers never overwrite each other unknowingly.
/// </summary>
internal sealed partial class InstanceRegistry(
    IStore store, EventLog events, ChangeIndex index, RegistryMetrics metrics, ServerOptions options,
    TimeProvider time, ILogger<InstanceRegistry> logger)
{
    private const int MaxConflictRetries = 8;
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, InstanceEntry>> _services = new(StringComparer.Ordinal);

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
                Service(record.Service)[record.Id] = new InstanceEntry(record, DetectorFor(record), options.CallerEvidence, now);
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

    public IEnumerable<string> ServiceNames => _services.Keys;

    public IReadOnlyCollection<InstanceEntry> Entries(string service) =>
        _services.TryGetValue(service, out var s) ? (IReadOnlyCollection<InstanceEntry>)s.Values : [];

    public bool TryGet(string service, string id, out InstanceEntry entry)
    {
        entry = null!;
        return _services.TryGetValue(service, out var s) && s.TryGetValue(id, out entry!);
    }

    /// <summary>Registers or updates an instance. Health and draining carry over from an existing registration.</summary>
    public async Task<(InstanceRecord Record, bool Created)> RegisterAsync(InstanceRecord candidate, CancellationToken cancellationToken)
    {
        var key = RegistryKeys.Instance(candidate.Service, candidate.Id);
        for (var attempt = 0; ; attempt++)
        {
            var now = time.GetUtcNow();
            TryGet(candidate.Service, candidate.Id, out var existing);
            var current = existing?.Record;
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
            var written = await WriteAsync(key, current?.Revision ?? 0, record, e, cancellationToken).ConfigureAwait(false);
            if (written is { } stored)
            {
                var detector = DetectorFor(stored);
                if (existing is not null && existing.Detector == detector)
                {
                    existing.Record = stored;
                    existing.Health.RecordHeartbeat(now);
                }
                else
                {
                    Service(stored.Service)[stored.Id] = new InstanceEntry(stored, detector, options.CallerEvidence, now);
                }

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

    public async Task<bool> DeregisterAsync(string service, string id, string cause, string type, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt <= MaxConflictRetries; attempt++)
        {
            if (!TryGet(service, id, out var entry))
            {
                return false;
            }

            var e = new RegistryEvent { Type = type, Time = time.GetUtcNow(), Service = service, Instance = id, Cause = cause, From = Wire(entry.Record.Health) };
            var result = await TxnAsync(RegistryKeys.Instance(service, id), entry.Record.Revision, null, e, cancellationToken).ConfigureAwait(false);
            if (result.Succeeded)
            {
                if (_services.TryGetValue(service, out var s))
                {
                    s.TryRemove(id, out _);
                    if (s.IsEmpty)
                    {
                        _services.TryRemove(new KeyValuePair<string, ConcurrentDictionary<string, InstanceEntry>>(service, s));
                    }
                }

                index.Bump(service, result.Revision);
                metrics.Deregistered(service);
                LogDeregistered(service, id, cause);
                return true;
            }

            await RefreshAsync(service, id, cancellationToken).ConfigureAwait(false);
        }

        throw new StoreUnavailableException($"deregistration of {service}/{id} kept conflicting with other writers");
    }

    /// <summary>Records a heartbeat. In memory only: heartbeats are frequent and carry no state worth a disk write.</summary>
    public bool Heartbeat(string service, string id)
    {
        if (!TryGet(service, id, out var entry))
        {
            return false;
        }

        entry.Health.RecordHeartbeat(time.GetUtcNow());
        metrics.Heartbeat();
        return true;
    }

    /// <summary>Publishes a changed record (health, draining) with its event. Returns false when someone else changed it first.</summary>
    public async Task<bool> PublishAsync(InstanceEntry entry, InstanceRecord updated, RegistryEvent e, CancellationToken cancellationToken)
    {
        var stored = await WriteAsync(RegistryKeys.Instance(updated.Service, updated.Id), entry.Record.Revision, updated, e, cancellationToken).ConfigureAwait(false);
        if (stored is null)
        {
            await RefreshAsync(updated.Service, updated.Id, cancellationToken).ConfigureAwait(false);
            return false;
        }

        entry.Record = stored;
        return true;
    }

    /// <summary>Records a service-level event (the brake) that changes no instance.</summary>
    public async Task RecordAsync(RegistryEvent e, CancellationToken cancellationToken)
    {
        var result = await store.TxnAsync(new TxnRequest([], [events.Append(e)], []), cancellationToken).ConfigureAwait(false);
        metrics.Event(e.Type);
        index.Bump(e.Service, result.Revision);
    }

    /// <summary>Applies a change another writer made (seen on the store's feed); older revisions are ignored.</summary>
    public void Apply(WatchEvent change)
    {
        if (!RegistryKeys.TryParseInstance(change.Item.Key, out var service, out var id))
        {
            return;
        }

        index.Bump(service, change.Item.ModRevision);
        TryGet(service, id, out var existing);
        if (existing is not null && existing.Record.Revision >= change.Item.ModRevision)
        {
            return;
        }

        if (change.Type == WatchEventType.Delete)
        {
            if (existing is not null && _services.TryGetValue(service, out var s))
            {
                s.TryRemove(id, out _);
            }
        }
        else if (ReadRecord(change.Item) is { } record)
        {
            if (existing is not null && existing.Detector == DetectorFor(record))
            {
                existing.Record = record;
            }
            else
            {
                Service(service)[id] = new InstanceEntry(record, DetectorFor(record), options.CallerEvidence, time.GetUtcNow());
            }
        }
    }

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

    private ConcurrentDictionary<string, InstanceEntry> Service(string service) =>
        _services.GetOrAdd(service, _ => new ConcurrentDictionary<string, InstanceEntry>(StringComparer.Ordinal));

    private async Task<InstanceRecord?> WriteAsync(string key, long expectedRevision, InstanceRecord record, RegistryEvent e, CancellationToken cancellationToken)
    {
        var result = await TxnAsync(key, expectedRevision, record, e, cancellationToken).ConfigureAwait(false);
        if (!result.Succeeded)
        {
            return null;
        }

        index.Bump(record.Service, result.Revision);
        return record with { Revision = result.Revision };
    }

    private async Task<TxnResult> TxnAsync(string key, long expectedRevision, InstanceRecord? record, RegistryEvent e, CancellationToken cancellationToken)
    {
        var change = record is null
            ? TxnOp.Delete(key)
            : TxnOp.Put(key, JsonSerializer.SerializeToUtf8Bytes(record with { Revision = 0 }, HaloJson.Options));
        var result = await store.TxnAsync(
            new TxnRequest([Compare.ModRevisionIs(key, expectedRevision)], [change, events.Append(e)], [TxnOp.Get(key)]),
            cancellationToken).ConfigureAwait(false);
        if (result.Succeeded)
        {
            metrics.Event(e.Type);
        }

        return result;
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
}
