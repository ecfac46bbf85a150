using System.Diagnostics.Metrics;
using Halo.Core.Detection;
using Halo.Core.Registry;
using Halo.Server.Registry;
using Halo.Server.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Halo.Server.Detection;

/// <summary>
/// Every <see cref="ServerOptions.DetectorTick"/>, evaluates each service this server owns (its shard decides; see
/// <see cref="ServiceShard.Evaluate"/>, which looks only at the instances that need it) and writes what changed: health
/// transitions, removals and the brake's events.
/// Services other servers own are left to them. A tick that fails (store unreachable) is logged and the next one tries again.
/// </summary>
internal sealed partial class DetectorLoop(
    InstanceRegistry registry, RegistryMetrics metrics, ServerOptions options, TimeProvider time, IHostApplicationLifetime lifetime,
    ILogger<DetectorLoop> logger)
    : BackgroundService
{
    // Ticks never overlap: hysteresis counts observations, and a test driving ticks by hand races the timer otherwise.
    private readonly SemaphoreSlim _tickGate = new(1, 1);

    /// <summary>How many of one tick's store writes may be in flight at once (a tick still writes everything it decided).</summary>
    public const int MaxWritesInFlight = 16;
    private long _lastFailureLog;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        metrics.Observe(ObserveInstances, ObserveBrakes);
        // Judge nothing before the server listens, and count silence only from then: the instances loaded at start could not
        // reach it meanwhile (under stress-ng a start took seconds and used up their grace: an app heartbeating every second
        // through a 5 s server restart was marked critical).
        // The restart runs inside the host's start notification, before StartAsync returns, so it never lands after a heartbeat.
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (lifetime.ApplicationStarted.Register(() =>
               {
                   registry.RestartGrace();
                   started.TrySetResult();
               }))
        {
            await started.Task.WaitAsync(stoppingToken).ConfigureAwait(false);
        }

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
                // A failing store must not kill detection, nor fill the log ten times a second: log, and the next tick tries again.
                if (time.GetElapsedTime(_lastFailureLog) >= TimeSpan.FromSeconds(5))
                {
                    _lastFailureLog = time.GetTimestamp();
                    LogTickFailed(ex.Message);
                }
            }
        }
    }

    /// <summary>One pass over every owned service. Public to tests so they can drive it with a fake clock.</summary>
    public async Task TickAsync(CancellationToken cancellationToken)
    {
        await _tickGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var started = time.GetTimestamp();
            var now = time.GetUtcNow();
            var writes = new List<Func<CancellationToken, Task>>();
            foreach (var shard in registry.Shards())
            {
                if (shard.Evaluate(now) is not { } verdicts)
                {
                    continue;
                }

                if (verdicts.Brake.Change != BrakeChange.None)
                {
                    writes.Add(ct => RecordBrakeAsync(shard.Name, verdicts.Brake, now, ct));
                }

                writes.AddRange(verdicts.Changes.Select(c => (Func<CancellationToken, Task>)(ct => registry.PublishHealthAsync(c, ct))));
                writes.AddRange(verdicts.Removals.Select(r => (Func<CancellationToken, Task>)(ct => registry.RemoveAsync(r, ct))));
            }

            // At most MaxWritesInFlight at once: a burst of thousands of transitions sent together queued them inside etcd,
            // whose leader then answered every lease renewal only after applying them all (etcd 3.4 waits for its applied
            // index on each renewal, at most 1 s, then fails it): servers' membership and primaries' leases lapsed
            // (bench/control-plane at 20,000 instances). Queued here instead, they cost etcd's other clients nothing.
            // Every write is tried even when one fails (as with Task.WhenAll); the first failure is rethrown after them all.
            Exception? failed = null;
            await Parallel.ForEachAsync(writes, new ParallelOptions { MaxDegreeOfParallelism = MaxWritesInFlight, CancellationToken = cancellationToken },
                async (write, ct) =>
                {
                    try
                    {
                        await write(ct).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (!ct.IsCancellationRequested)
                    {
                        Interlocked.CompareExchange(ref failed, ex, null);
                    }
                }).ConfigureAwait(false);
            if (failed is not null)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failed);
            }

            metrics.Evaluated(time.GetElapsedTime(started));
        }
        finally
        {
            _tickGate.Release();
        }
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

    // Each server reports the services it owns, so summing the servers' gauges counts every instance once.
    private IEnumerable<Measurement<long>> ObserveInstances()
    {
        foreach (var shard in registry.Shards().Where(s => s.Owned && !s.IsEmpty))
        {
            var counts = new long[3];
            foreach (var entry in shard.Entries)
            {
                counts[(int)entry.Record.Health]++;
            }

            for (var h = 0; h < counts.Length; h++)
            {
                yield return new Measurement<long>(counts[h],
                    new KeyValuePair<string, object?>("service", shard.Name),
                    new KeyValuePair<string, object?>("health", RegistryMetrics.Lower((HealthStatus)h)));
            }
        }
    }

    private IEnumerable<Measurement<int>> ObserveBrakes() =>
        registry.Shards().Where(s => s.Owned).Select(s => new Measurement<int>(s.IsBrakeEngaged ? 1 : 0, new KeyValuePair<string, object?>("service", s.Name)));

    [LoggerMessage(EventId = 2002, Level = LogLevel.Error, Message = "Mass-failure brake for {Service}: engaged={Engaged} ({Critical} of {Total} silent)")]
    private partial void LogBrake(string service, bool engaged, int critical, int total);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Error, Message = "Detector tick failed ({Reason}); retrying on the next tick")]
    private partial void LogTickFailed(string reason);
}
