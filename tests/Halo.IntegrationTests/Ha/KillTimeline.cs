using System.Diagnostics;
using System.Globalization;
using Halo.Agent;
using Halo.Agent.Drills;

namespace Halo.IntegrationTests.Ha;

/// <summary>
/// What a primary's agent and the writes through the proxy did after a kill, sampled every 10 ms: when writes were refused,
/// the gaps between the primary's acknowledged renewals, and whether its watchdog fenced it. Refused writes under load are a
/// chain of late steps; this says which step was late. <see cref="FromProcesses"/> tells it for agents run as processes.
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

    /// <summary>
    /// The same story when the agents and the proxy are real processes (their state is not in this process): when writes were
    /// refused and why (the load's own record), and what the agents and the proxy printed from <paramref name="from"/> on, each
    /// line at the time this process read it, relative to the kill. Agents log each failed server call, fence and failsafe.
    /// </summary>
    public static string FromProcesses(IReadOnlyList<FailedWrite> failed, DateTimeOffset killedAtUtc, DateTimeOffset from,
        IEnumerable<(string Name, HaloProcess Process)> processes, int maxLines = 60)
    {
        var since = failed.Where(f => f.StartedAt >= from).ToList();
        var refused = since.Count == 0
            ? "no write refused"
            : $"{since.Count} writes refused from {S((since[0].StartedAt - killedAtUtc).TotalSeconds)} to {S((since[^1].StartedAt - killedAtUtc).TotalSeconds)}: " +
              string.Join("; ", since.GroupBy(f => f.Why.Split(':')[0]).Select(g => $"{g.Count()} {g.Key}"));
        var lines = processes.SelectMany(p => p.Process.TimedOutput.Where(l => l.At >= from).Select(l => (l.At, Text: $"{p.Name} {S((l.At - killedAtUtc).TotalSeconds)}: {l.Line}")))
            .OrderBy(l => l.At).Select(l => l.Text).ToList();
        var shown = lines.Count > maxLines ? [.. lines.Take(maxLines / 2), $"... {lines.Count - maxLines} lines ...", .. lines.TakeLast(maxLines / 2)] : lines;
        return $"after the kill (at {killedAtUtc:HH:mm:ss.fff}): {refused}; agents and proxy printed {lines.Count} lines:\n{string.Join('\n', shown)}";
    }

    private static string S(double seconds) => (seconds >= 0 ? "+" : "") + seconds.ToString("0.00", CultureInfo.InvariantCulture) + " s";
}
