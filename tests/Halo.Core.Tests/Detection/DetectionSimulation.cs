using Halo.Core.Detection;

namespace Halo.Core.Tests.Detection;

/// <summary>Drives an <see cref="InstanceHealth"/> with explicit heartbeat times and an evaluator ticking every EvaluationInterval.</summary>
internal static class DetectionSimulation
{
    public static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Heartbeats at <paramref name="heartbeats"/> (offsets from <see cref="Start"/>, ascending); ticks at phase + k·E until <paramref name="until"/>.</summary>
    public static List<HealthTransition> Run(
        InstanceHealth health, IReadOnlyList<TimeSpan> heartbeats, TimeSpan phase, TimeSpan until)
    {
        var transitions = new List<HealthTransition>();
        var next = 0;
        var evaluation = health.Options.EvaluationInterval;
        for (var tick = phase; tick <= until; tick += evaluation)
        {
            // A heartbeat stamped at the same instant as a tick is recorded first.
            while (next < heartbeats.Count && heartbeats[next] <= tick)
            {
                health.RecordHeartbeat(Start + heartbeats[next++]);
            }

            if (health.Evaluate(Start + tick) is { } transition)
            {
                transitions.Add(transition);
            }
        }

        return transitions;
    }

    public static List<TimeSpan> Steady(TimeSpan interval, int count, TimeSpan from = default) =>
        Enumerable.Range(1, count).Select(i => from + (interval * i)).ToList();

    public static DateTimeOffset? FirstCritical(IEnumerable<HealthTransition> transitions) =>
        transitions.FirstOrDefault(t => t.To == HealthStatus.Critical)?.At;
}
