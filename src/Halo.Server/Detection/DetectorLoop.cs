using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Halo.Core.Detection;
using Halo.Core.Registry;
using Halo.Server.Registry;
using Halo.Server.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Halo.Server.Detection;

/// <summary>
/// Judges every instance at its detector's evaluation interval and publishes what changed. The detector decides
/// what an instance's silence means; this loop adds the service-wide view (the mass-failure brake) and the writes.
/// </summary>
internal sealed partial class DetectorLoop(
    InstanceRegistry registry, RegistryMetrics metrics, ServerOptions options, TimeProvider time, ILogger<DetectorLoop> logger)
    : BackgroundService
{
    private readonly ConcurrentDictionary<string, MassFailureBrake> _brakes = new(StringComparer.Ordinal);

    // Ticks never overlap: hysteresis counts observations, and a test driving ticks by hand races the timer otherwise.
    private readonly SemaphoreSlim _tickGate = new(1, 1);

    public bool IsBrakeEngaged(string service) => _brakes.TryGetValue(service, out var b) && b.IsEngaged;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        metrics.Observe(ObserveInstances, ObserveBrakes);
        using var timer = new PeriodicTimer(options.DetectorTick, time);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            try
            {
                await TickAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                // A failing store must not kill detection: log, and the next tick tries again.
                LogTickFailed(ex);
            }
        }
    }

    /// <summary>One pass over every service. Public to tests so they can drive it with a fake clock.</summary>
    public async Task TickAsync(CancellationToken cancellationToken)
    {
        await _tickGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await EvaluateAllAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _tickGate.Release();
        }
    }

    private async Task EvaluateAllAsync(CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        var now = time.GetUtcNow();
        var writes = new List<Task>();
        foreach (var service in registry.ServiceNames)
        {
            var entries = registry.Entries(service).ToList();

            // The brake looks at raw verdicts, before hysteresis, so it engages before the first instance is published critical.
            var brake = _brakes.GetOrAdd(service, _ => new MassFailureBrake(options.Brake));
            var wouldBeCritical = entries.Count(e => e.Health.Judge(now).Status == HealthStatus.Critical);
            var decision = brake.Evaluate(entries.Count, wouldBeCritical);
            if (decision.Change != BrakeChange.None)
            {
                writes.Add(RecordBrakeAsync(service, decision, now, cancellationToken));
            }

            foreach (var entry in entries)
            {
                if (now - entry.LastEvaluated >= entry.Detector.EvaluationInterval)
                {
                    entry.LastEvaluated = now;
                    if (entry.Health.Evaluate(now, decision.WithholdCritical) is { } transition)
                    {
                        entry.LastTransition = transition;
                    }
                }

                var desired = entry.Health.Status;
                string? cause = null;
                if (entry.Callers.Judge(now) is { Failing: true } callers && desired != HealthStatus.Critical)
                {
                    // Heartbeats say alive, callers say every request fails: callers win, held at suspect while the brake is on.
                    desired = decision.WithholdCritical ? HealthStatus.Suspect : HealthStatus.Critical;
                    cause = callers.Describe();
                }
                else if (entry.HeldByCallers && desired != entry.Record.Health)
                {
                    cause = "caller reports no longer show failures; detector says " + RegistryMetrics.Lower(desired);
                }

                entry.HeldByCallers = cause is not null && desired != entry.Health.Status;

                if (desired != entry.Record.Health)
                {
                    writes.Add(PublishAsync(entry, desired, now, cause, cancellationToken));
                }
                else if (!decision.SuspendRemoval && entry.Health.ShouldRemove(now))
                {
                    writes.Add(registry.DeregisterAsync(service, entry.Record.Id,
                        $"critical for longer than {entry.Detector.RemoveAfter}", EventTypes.Removed, cancellationToken));
                }
            }
        }

        await Task.WhenAll(writes).ConfigureAwait(false);
        metrics.Evaluated(time.GetElapsedTime(started));
    }

    private async Task PublishAsync(InstanceEntry entry, HealthStatus to, DateTimeOffset now, string? causeOverride, CancellationToken cancellationToken)
    {
        var record = entry.Record;
        var transition = entry.LastTransition;
        var cause = causeOverride ?? (transition?.To == to ? transition.Cause : $"detector says {RegistryMetrics.Lower(to)}");
        var e = new RegistryEvent
        {
            Type = EventTypes.Health, Time = now, Service = record.Service, Instance = record.Id,
            From = InstanceRegistry.Wire(record.Health), To = InstanceRegistry.Wire(to), Cause = cause,
            Evidence = Evidence(transition, entry, now),
        };
        if (await registry.PublishAsync(entry, record with { Health = to }, e, cancellationToken).ConfigureAwait(false))
        {
            metrics.Transition(record.Service, record.Health, to);
            LogTransition(record.Service, record.Id, record.Health, to, cause);
        }
    }

    private static Dictionary<string, object?> Evidence(HealthTransition? transition, InstanceEntry entry, DateTimeOffset now)
    {
        var evidence = new Dictionary<string, object?>
        {
            ["lastHeartbeat"] = entry.Health.LastHeartbeat,
            ["detector"] = entry.Detector.Kind == DetectorKind.Fixed ? "fixed" : "phiAccrual",
        };
        if (entry.Callers.Judge(now) is { Requests: > 0 } callers)
        {
            evidence["callerRequests"] = callers.Requests;
            evidence["callerFailures"] = callers.Failures;
            evidence["reporters"] = callers.Reporters;
        }

        if (transition?.Evidence is { } ev)
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

    private Task RecordBrakeAsync(string service, BrakeDecision decision, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var engaged = decision.Change == BrakeChange.Engaged;
        LogBrake(service, engaged, decision.WouldBeCritical, decision.Total);
        return registry.RecordAsync(new RegistryEvent
        {
            Type = engaged ? EventTypes.BrakeEngaged : EventTypes.BrakeReleased,
            Time = now,
            Service = service,
            Cause = decision.Cause,
            Evidence = new Dictionary<string, object?>
            {
                ["total"] = decision.Total, ["silent"] = decision.WouldBeCritical, ["threshold"] = options.Brake.Threshold,
            },
        }, cancellationToken);
    }

    private IEnumerable<Measurement<long>> ObserveInstances()
    {
        foreach (var service in registry.ServiceNames)
        {
            var counts = new long[3];
            foreach (var entry in registry.Entries(service))
            {
                counts[(int)entry.Record.Health]++;
            }

            for (var h = 0; h < counts.Length; h++)
            {
                yield return new Measurement<long>(counts[h],
                    new KeyValuePair<string, object?>("service", service),
                    new KeyValuePair<string, object?>("health", RegistryMetrics.Lower((HealthStatus)h)));
            }
        }
    }

    private IEnumerable<Measurement<int>> ObserveBrakes() =>
        _brakes.Select(kv => new Measurement<int>(kv.Value.IsEngaged ? 1 : 0, new KeyValuePair<string, object?>("service", kv.Key)));

    [LoggerMessage(EventId = 2001, Level = LogLevel.Warning, Message = "Health {Service}/{Id}: {From} -> {To} ({Cause})")]
    private partial void LogTransition(string service, string id, HealthStatus from, HealthStatus to, string cause);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Error, Message = "Mass-failure brake for {Service}: engaged={Engaged} ({Critical} of {Total} silent)")]
    private partial void LogBrake(string service, bool engaged, int critical, int total);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Error, Message = "Detector tick failed; retrying on the next tick")]
    private partial void LogTickFailed(Exception ex);
}
