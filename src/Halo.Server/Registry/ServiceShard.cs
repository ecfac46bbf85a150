using System.Collections.Concurrent;
using Halo.Core.Detection;
using Halo.Core.Registry;

namespace Halo.Server.Registry;

/// <summary>An instance whose published health should change, with what the event needs to explain it.</summary>
internal sealed record HealthChange(InstanceRecord Record, HealthStatus To, string Cause, Dictionary<string, object?> Evidence);

/// <summary>What one evaluation of a shard asks the store to record.</summary>
internal sealed record ShardVerdicts(BrakeDecision Brake, IReadOnlyList<HealthChange> Changes, IReadOnlyList<InstanceRecord> Removals);

/// <summary>
/// One service's instances on this server, and the only code that changes them. Records come from the store and are the
/// same on every server; liveness (heartbeats, caller reports, the detector, the mass-failure brake) exists only while this
/// server owns the service, and starts afresh, with a grace period, each time ownership arrives. Records change under
/// the shard's lock and only forward in revision; heartbeats and reports are lock-free lookups into detectors that
/// lock themselves; <see cref="Evaluate"/> runs on the detector loop alone.
/// </summary>
internal sealed class ServiceShard(string name, Func<InstanceRecord, DetectorOptions> detectorFor, CallerEvidenceOptions callers, MassFailureBrakeOptions brakeOptions)
{
    private readonly Lock _gate = new();
    private readonly ConcurrentDictionary<string, InstanceEntry> _entries = new(StringComparer.Ordinal);
    private MassFailureBrake? _brake;
    private object? _syncedWith;

    // Instances with an active check: the check loop's scan every tick is skipped for services without any (profiled:
    // scanning 80,000 check-less instances every 100 ms was 8% of the server's CPU in bench/registry/profile.sh).
    private int _withChecks;

    public string Name { get; } = name;

    /// <summary>True while this server judges the service.</summary>
    public bool Owned => Volatile.Read(ref _brake) is not null;

    public bool IsBrakeEngaged => Volatile.Read(ref _brake)?.IsEngaged == true;

    public bool IsEmpty => _entries.IsEmpty;

    public int Count => _entries.Count;

    public ICollection<InstanceEntry> Entries => _entries.Values;

    /// <summary>The membership view ownership was last decided from (compared by reference on the hot path).</summary>
    public object? SyncedWith => Volatile.Read(ref _syncedWith);

    public bool TryGet(string id, out InstanceEntry entry) => _entries.TryGetValue(id, out entry!);

    /// <summary>
    /// Takes or gives up the judging of this service. Taking it starts every instance's detector from <paramref name="now"/>
    /// with its published status (<see cref="InstanceHealth.Resume"/>): silence while nobody here judged is not the instance's
    /// fault, and a Critical instance stays Critical until it heartbeats again.
    /// </summary>
    public void Sync(object view, bool owned, DateTimeOffset now)
    {
        lock (_gate)
        {
            if (owned != Owned)
            {
                foreach (var entry in _entries.Values)
                {
                    entry.Liveness = owned ? Resume(entry.Record, now) : null;
                }

                Volatile.Write(ref _brake, owned ? new MassFailureBrake(brakeOptions) : null);
            }

            Volatile.Write(ref _syncedWith, view);
        }
    }

    /// <summary>
    /// Applies a stored version of an instance (from this server's own write or from the store's feed); an older revision
    /// than the one held is ignored. A new instance, or one whose detector settings changed, starts with a fresh detector;
    /// a registration (<paramref name="registration"/>) also counts as a heartbeat.
    /// </summary>
    public void Apply(InstanceRecord record, DateTimeOffset now, bool registration = false)
    {
        lock (_gate)
        {
            if (_entries.TryGetValue(record.Id, out var entry))
            {
                if (entry.Record.Revision >= record.Revision)
                {
                    return;
                }

                _withChecks += (record.Check is null ? 0 : 1) - (entry.Record.Check is null ? 0 : 1);
                entry.Record = record;
                if (Owned && entry.Liveness is { } live && live.Detector != detectorFor(record))
                {
                    entry.Liveness = Resume(record, now);
                }

                if (registration)
                {
                    entry.Liveness?.Health.RecordHeartbeat(now);
                }

                return;
            }

            // A new instance is judged from now (its registration, or this server's start), keeping its published status.
            _entries[record.Id] = new InstanceEntry(record) { Liveness = Owned ? Resume(record, now) : null };
            _withChecks += record.Check is null ? 0 : 1;
        }
    }

    /// <summary>Removes an instance deleted at <paramref name="revision"/> (unless a newer version is already held).</summary>
    public void Remove(string id, long revision)
    {
        lock (_gate)
        {
            if (_entries.TryGetValue(id, out var entry) && entry.Record.Revision < revision)
            {
                _entries.TryRemove(id, out _);
                _withChecks -= entry.Record.Check is null ? 0 : 1;
            }
        }
    }

    /// <summary>Records a heartbeat received at <paramref name="at"/>; false when the instance is unknown or not judged here.</summary>
    public bool Heartbeat(string id, DateTimeOffset at)
    {
        if (!_entries.TryGetValue(id, out var entry) || entry.Liveness is not { } live)
        {
            return false;
        }

        live.Health.RecordHeartbeat(at);
        return true;
    }

    /// <summary>Adds a caller's report; null when the instance is unknown or not judged here.</summary>
    public CallerVerdict? Report(string id, string reporter, DateTimeOffset at, long requests, long failures)
    {
        if (!_entries.TryGetValue(id, out var entry) || entry.Liveness is not { } live)
        {
            return null;
        }

        live.Callers.Add(reporter, at, requests, failures);
        return live.Callers.Judge(at);
    }

    /// <summary>
    /// One evaluation tick (<see cref="ServiceHealthEvaluator"/>): the brake's decision over every instance, then each due
    /// instance's detector; returns what to publish and remove. Only the detector loop calls it; null when not owned.
    /// </summary>
    public ShardVerdicts? Evaluate(DateTimeOffset now)
    {
        if (Volatile.Read(ref _brake) is not { } brake)
        {
            return null;
        }

        // Enumerating the dictionary itself is lock-free; .Values would take every lock and copy every entry, each tick.
        var count = _entries.Count;
        var judged = new List<(InstanceEntry Entry, Liveness Live)>(count);
        var observations = new List<InstanceObservation<int>>(count);
        foreach (var (_, entry) in _entries)
        {
            if (entry.Liveness is not { } live)
            {
                continue;
            }

            var due = now - live.LastEvaluated >= live.Detector.EvaluationInterval;
            if (due)
            {
                live.LastEvaluated = now;
            }

            observations.Add(new InstanceObservation<int>(judged.Count, live.Health, entry.Record.Health, due, live.Callers.Judge(now), live.HeldByCallers));
            judged.Add((entry, live));
        }

        var result = ServiceHealthEvaluator.Evaluate(observations, brake, now);
        List<HealthChange>? changes = null;
        List<InstanceRecord>? removals = null;
        foreach (var d in result.Decisions)
        {
            var (entry, live) = judged[d.Key];
            if (d.Transition is { } transition)
            {
                live.LastTransition = transition;
            }

            live.HeldByCallers = d.HeldByCallers;
            var record = entry.Record;
            if (d.Desired != record.Health)
            {
                var last = live.LastTransition;
                var cause = d.Cause ?? (last?.To == d.Desired ? last.Cause : $"detector says {d.Desired.ToString().ToLowerInvariant()}");
                (changes ??= []).Add(new HealthChange(record, d.Desired, cause, Evidence(live, now)));
            }
            else if (d.Remove)
            {
                (removals ??= []).Add(record);
            }
        }

        return new ShardVerdicts(result.Brake, changes ?? [], removals ?? []);
    }

    /// <summary>Instances with an active check that is due now and not already running; marks them running.</summary>
    public IEnumerable<(InstanceEntry Entry, Liveness Live, HealthCheckSpec Check)> DueChecks(DateTimeOffset now)
    {
        if (Volatile.Read(ref _withChecks) == 0)
        {
            yield break;
        }

        foreach (var (_, entry) in _entries)
        {
            if (entry.Liveness is not { } live || entry.Record.Check is not { } check || now < live.NextCheckAt)
            {
                continue;
            }

            live.NextCheckAt = now + check.Interval;
            if (Interlocked.CompareExchange(ref live.CheckRunning, 1, 0) == 0)
            {
                yield return (entry, live, check);
            }
        }
    }

    private Liveness Resume(InstanceRecord record, DateTimeOffset now)
    {
        var detector = detectorFor(record);
        return new Liveness(detector, InstanceHealth.Resume(detector, record.Health, now), callers) { LastEvaluated = now };
    }

    private static Dictionary<string, object?> Evidence(Liveness live, DateTimeOffset now)
    {
        var evidence = new Dictionary<string, object?>
        {
            ["lastHeartbeat"] = live.Health.LastHeartbeat,
            ["detector"] = live.Detector.Kind == DetectorKind.Fixed ? "fixed" : "phiAccrual",
        };
        if (live.Callers.Judge(now) is { Requests: > 0 } verdict)
        {
            evidence["callerRequests"] = verdict.Requests;
            evidence["callerFailures"] = verdict.Failures;
            evidence["reporters"] = verdict.Reporters;
        }

        if (live.LastTransition?.Evidence is { } ev)
        {
            evidence["lastHeartbeat"] = ev.LastHeartbeat;
            evidence["silenceSeconds"] = Math.Round(ev.Silence.TotalSeconds, 3);
            if (ev.Phi is { } phi)
            {
                evidence["phi"] = double.IsFinite(phi) ? Math.Round(phi, 3) : 1e9;
            }

            if (ev.MissedIntervals is { } missed)
            {
                evidence["missedIntervals"] = missed;
            }
        }

        return evidence;
    }
}
