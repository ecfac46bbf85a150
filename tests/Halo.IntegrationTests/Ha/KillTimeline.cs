using System.Diagnostics;
using System.Globalization;
using Halo.Agent;
using Halo.Agent.Drills;

namespace Halo.IntegrationTests.Ha;

/// <summary>
/// What a primary's agent and the writes through the proxy did after a kill, sampled every 10 ms: when writes were refused,
/// the gaps between the primary's acknowledged renewals, and whether its watchdog fenced it. Refused writes under load are a
/// chain of late steps; this says which step was late.
/// </summary>
internal static class KillTimeline
{
    public static Task<string> SampleAsync(IWriteLoad load, GroupAgent primary, long killedAt, CancellationToken ct) => Task.Run(async () =>
    {
        var failures = new List<double>();
        var renewals = new List<double>();
        var lastFailed = load.Failed;
        var lastRenewal = primary.LastRenewalSentAt;
        var fencedBefore = primary.WatchdogFencedAt;
        var killedAtUtc = DateTimeOffset.UtcNow - Stopwatch.GetElapsedTime(killedAt);
        while (!ct.IsCancellationRequested)
        {
            var now = Stopwatch.GetElapsedTime(killedAt).TotalSeconds;
            if (load.Failed != lastFailed)
            {
                lastFailed = load.Failed;
                failures.Add(now);
            }

            if (primary.LastRenewalSentAt is { } sent && sent != lastRenewal)
            {
                lastRenewal = sent;
                renewals.Add((sent - killedAtUtc).TotalSeconds);
            }

            try
            {
                await Task.Delay(10, ct);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        var gaps = renewals.Zip(renewals.Skip(1)).Where(p => p.Second - p.First > 0.4).Select(p => $"{S(p.First)}..{S(p.Second)}");
        var fenced = primary.WatchdogFencedAt is { } f && f != fencedBefore ? $"watchdog fenced at {S((f - killedAtUtc).TotalSeconds)}" : "no watchdog fence";
        var refused = failures.Count == 0 ? "no write refused" : $"writes refused from {S(failures[0])} to {S(failures[^1])}";
        return $"after the kill (at {killedAtUtc:HH:mm:ss.fff}): {refused}; primary renewals sent {renewals.Count}, first {(renewals.Count > 0 ? S(renewals[0]) : "none")}, " +
            $"gaps over 0.4 s: [{string.Join(", ", gaps)}]; {fenced}";
    });

    private static string S(double seconds) => (seconds >= 0 ? "+" : "") + seconds.ToString("0.00", CultureInfo.InvariantCulture) + " s";
}
