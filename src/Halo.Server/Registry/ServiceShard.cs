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
/// <param name="occupancy">Told +1 when the shard gains its first instance and -1 when it loses its last (under its lock).</param>
internal sealed class ServiceShard(
    string name, Func<InstanceRecord, DetectorOptions> detectorFor, CallerEvidenceOptions callers, MassFailureBrakeOptions brakeOptions,
    Action<int> occupancy)
{
    private readonly Lock _gate = new();
    private readonly ConcurrentDictionary<string, InstanceEntry> _entries = new(StringComparer.Ordinal);
    private DueSchedule? _judging;
    private object? _syncedWith;

    // Kept beside the dictionary: ConcurrentDictionary.Count takes every bucket lock, and registrations ask on each call.
    private int _count;
    private long _visits;

    // Instances with an active check: the check loop's scan every tick is skipped for services without any (profiled:
    // scanning 80,000 check-less instances every 100 ms was 8% of the server's CPU in bench/registry/profile.sh).
    private int _withChecks;

    public string Name { get; } = name;

    /// <summary>True while this server judges the service.</summary>
    public bool Owned => Volatile.Read(ref _judging) is not null;

    public bool IsBrakeEngaged => Volatile.Read(ref _judging)?.Brake.IsEngaged == true;

    public bool IsEmpty => Volatile.Read(ref _count) == 0;

    public int Count => Volatile.Read(ref _count);

    public ICollection<InstanceEntry> Entries => _entries.Values;

    /// <summary>How many instance looks the evaluations have taken in all (tests: a tick's cost follows the instances that need it).</summary>
    public long Visits => Volatile.Read(ref _visits);

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
                Restart(owned, now);
            }

            Volatile.Write(ref _syncedWith, view);
        }
    }

    /// <summary>
    /// Starts every instance's detector again from <paramref name="now"/> with its published status, as taking the service
    /// does, when this server judges it. For the moment the server starts listening after a restart: the grace period given at
    /// load ran while nobody could reach the server, and a slow start (a busy machine) could use it up before the first
    /// heartbeat arrived.
    /// </summary>
    public void RestartGrace(DateTimeOffset now)
    {
        lock (_gate)
        {
            if (Owned)
            {
                Restart(owned: true, now);
            }
        }
    }

    // Under the lock: a new schedule and, when judging, a detector per instance started at now.
    private void Restart(bool owned, DateTimeOffset now)
    {
        var judging = owned ? new DueSchedule(brakeOptions) : null;
        foreach (var entry in _entries.Values)
        {
            entry.Liveness = owned ? Resume(entry.Record, now) : null;
            Judge(judging, entry);
        }

        Volatile.Write(ref _judging, judging);
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
                    Retire(entry);
                    entry.Liveness = Resume(record, now);
                }

                if (registration)
                {
                    entry.Liveness?.Health.RecordHeartbeat(now);
                }

                // Its published status (or its detector) changed: the next tick looks at it.
                Judge(_judging, entry);
                return;
            }

            // A new instance is judged from now (its registration, or this server's start), keeping its published status.
            var added = new InstanceEntry(record) { Liveness = Owned ? Resume(record, now) : null };
            _entries[record.Id] = added;
            _withChecks += record.Check is null ? 0 : 1;
            if (++_count == 1)
            {
                occupancy(1);
            }

            Judge(_judging, added);
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
                Retire(entry);
                if (--_count == 0)
                {
                    occupancy(-1);
                }
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
        if (live.RawCritical && Volatile.Read(ref _judging) is { } judging)
        {
            // Quiet instances need nothing (their scheduled look finds the heartbeat); a Critical raw verdict is counted by
            // the brake, and the count must drop on the next tick as it did when every tick judged every instance.
            judging.Enqueue(entry, live);
        }

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
        Judge(Volatile.Read(ref _judging), entry);
        return live.Callers.Judge(at);
    }

    /// <summary>
    /// One evaluation tick (<see cref="ServiceHealthEvaluator"/>): the brake's decision over every instance (from the count
    /// <see cref="DueSchedule"/> keeps), then each instance that needs a look; returns what to publish and remove. Only the
    /// detector loop calls it; null when not owned.
    /// </summary>
    public ShardVerdicts? Evaluate(DateTimeOffset now)
    {
        if (Volatile.Read(ref _judging) is not { } judging)
        {
            return null;
        }

        var (brake, visits) = judging.Collect(now);
        Volatile.Write(ref _visits, _visits + visits.Count);
        List<HealthChange>? changes = null;
        List<InstanceRecord>? removals = null;
        foreach (var (entry, live) in visits)
        {
            var due = now - live.LastEvaluated >= live.Detector.EvaluationInterval;
            if (due)
            {
                live.LastEvaluated = now;
            }

            var record = entry.Record;
            var callerVerdict = live.Callers.Judge(now);
            var pending = false;
            var observation = new InstanceObservation<InstanceEntry>(entry, live.Health, record.Health, due, callerVerdict, live.HeldByCallers);
            if (ServiceHealthEvaluator.Decide(observation, brake, now) is { } d)
            {
                if (d.Transition is { } transition)
                {
                    live.LastTransition = transition;
                }

                live.HeldByCallers = d.HeldByCallers;
                if (d.Desired != record.Health)
                {
                    var last = live.LastTransition;
                    var cause = d.Cause ?? (last?.To == d.Desired ? last.Cause : $"detector says {d.Desired.ToString().ToLowerInvariant()}");
                    (changes ??= []).Add(new HealthChange(record, d.Desired, cause, Evidence(live, now)));
                    pending = true;
                }
                else if (d.Remove)
                {
                    (removals ??= []).Add(record);
                    pending = true;
                }
            }

            judging.Next(entry, live, NextLook(live, callerVerdict, pending, now));
        }

        return new ShardVerdicts(brake, changes ?? [], removals ?? []);
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

    /// <summary>
    /// When an instance needs its next look, so that no tick which would have changed something is skipped: the raw verdict
    /// worsening (the brake counts it), the next evaluation while a transition is in progress, removal, or every tick while
    /// a write is pending or callers' evidence (which expires with time) is in play. Heartbeats, reports and record changes
    /// hand an instance in sooner.
    /// </summary>
    private static DateTimeOffset NextLook(Liveness live, CallerVerdict callerVerdict, bool pending, DateTimeOffset now)
    {
        var health = live.Health;
        if (pending || live.HeldByCallers || callerVerdict.Reporters.Count > 0 || health.ShouldRemove(now))
        {
            return now;
        }

        var next = live.WorsensAt;
        if (health.Status == HealthStatus.Critical)
        {
            // Critical and silent changes nothing until a heartbeat (which hands it in while its raw verdict is Critical).
            if (live.Raw != HealthStatus.Critical)
            {
                next = Earliest(next, live.LastEvaluated + live.Detector.EvaluationInterval);
            }

            if (live.Detector.RemoveAfter is { } removeAfter && health.CriticalSince is { } since)
            {
                next = Earliest(next, since + removeAfter);
            }
        }
        else if (live.Raw != HealthStatus.Passing || !health.IsQuiet)
        {
            next = Earliest(next, live.LastEvaluated + live.Detector.EvaluationInterval);
        }

        return next;
    }

    private static DateTimeOffset Earliest(DateTimeOffset a, DateTimeOffset b) => a <= b ? a : b;

    // Under the lock: hands an instance's detector state to the schedule of the ownership it belongs to.
    private static void Judge(DueSchedule? judging, InstanceEntry entry)
    {
        if (judging is not null && entry.Liveness is { } live)
        {
            judging.Enqueue(entry, live);
        }
    }

    // Under the lock: the instance's detector state is dropped; the schedule stops counting it on its next tick.
    private void Retire(InstanceEntry entry)
    {
        if (entry.Liveness is { } old)
        {
            old.Retired = true;
            _judging?.Enqueue(entry, old);
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
