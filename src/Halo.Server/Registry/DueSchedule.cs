using System.Collections.Concurrent;
using Halo.Core.Detection;

namespace Halo.Server.Registry;

/// <summary>
/// The judging of one service while this server owns it: the mass-failure brake, the raw Critical count the brake decides
/// from (kept as verdicts change, not recounted) and the instances in the order their next look falls due. A tick visits
/// only the instances handed in since the last one and those whose look is due, so its cost follows the instances that
/// need judging, not all of them (profiled: judging all 80,000 instances every 100 ms was 48% of the server's CPU in
/// bench/registry/profile.sh). Other threads only hand instances in (<see cref="Enqueue"/>); the rest runs on the detector
/// loop alone.
/// </summary>
internal sealed class DueSchedule(MassFailureBrakeOptions brakeOptions)
{
    private readonly ConcurrentQueue<(InstanceEntry Entry, Liveness Live)> _inbox = new();
    private readonly PriorityQueue<(InstanceEntry Entry, Liveness Live), long> _due = new();
    private readonly List<(InstanceEntry Entry, Liveness Live)> _visits = [];
    private int _total;
    private int _critical;
    private long _tick;

    public MassFailureBrake Brake { get; } = new(brakeOptions);

    /// <summary>
    /// Hands an instance to the next tick: new, its record changed, reported on, heartbeating while its raw verdict is
    /// Critical, or retired (removed, or its detector replaced). Any thread; an instance already waiting is not queued twice.
    /// </summary>
    public void Enqueue(InstanceEntry entry, Liveness live)
    {
        if (Interlocked.CompareExchange(ref live.Queued, 1, 0) == 0)
        {
            _inbox.Enqueue((entry, live));
        }
    }

    /// <summary>
    /// The instances to look at at <paramref name="now"/> (handed in, or due), with their raw verdicts counted, and the
    /// brake's decision over the whole service. The list is reused by the next tick.
    /// </summary>
    public (BrakeDecision Brake, IReadOnlyList<(InstanceEntry Entry, Liveness Live)> Visits) Collect(DateTimeOffset now)
    {
        _visits.Clear();
        var tick = ++_tick;
        while (_inbox.TryDequeue(out var handed))
        {
            Volatile.Write(ref handed.Live.Queued, 0);
            Take(handed, tick);
        }

        while (_due.TryPeek(out var item, out var at) && at <= now.UtcTicks)
        {
            _due.Dequeue();
            if (item.Live.DueAt == at)
            {
                Take(item, tick);
            }
        }

        // The brake looks at raw verdicts, before hysteresis, so it engages before the first instance is published critical.
        foreach (var (_, live) in _visits)
        {
            var (raw, worsensAt) = live.Health.Outlook(now);
            live.Raw = raw;
            live.WorsensAt = worsensAt;
            Count(live, raw == HealthStatus.Critical);
        }

        return (Brake.Evaluate(_total, _critical), _visits);
    }

    /// <summary>Schedules the next look at an instance visited this tick (detector loop only).</summary>
    public void Next(InstanceEntry entry, Liveness live, DateTimeOffset at)
    {
        live.DueAt = at.UtcTicks;
        if (at == DateTimeOffset.MaxValue)
        {
            return; // nothing but a hand-in can change it (a Critical instance waits for a heartbeat)
        }

        _due.Enqueue((entry, live), live.DueAt);
        if (_due.Count > (2 * _total) + 1024)
        {
            Compact();
        }
    }

    private void Take((InstanceEntry Entry, Liveness Live) item, long tick)
    {
        var (entry, live) = item;
        if (live.Retired || !ReferenceEquals(entry.Liveness, live))
        {
            if (live.Tracked)
            {
                Count(live, false);
                live.Tracked = false;
                live.DueAt = long.MinValue;
                _total--;
            }

            return;
        }

        if (!live.Tracked)
        {
            live.Tracked = true;
            _total++;
        }

        if (live.VisitTick != tick)
        {
            live.VisitTick = tick;
            _visits.Add(item);
        }
    }

    private void Count(Liveness live, bool critical)
    {
        if (live.RawCritical != critical)
        {
            live.RawCritical = critical;
            _critical += critical ? 1 : -1;
        }
    }

    // Looks that an earlier hand-in overtook stay queued until their time; drop them before they outnumber the instances.
    private void Compact()
    {
        var live = _due.UnorderedItems.Where(i => i.Element.Live.DueAt == i.Priority).ToList();
        _due.Clear();
        _due.EnqueueRange(live);
    }
}
