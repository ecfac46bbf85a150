namespace Halo.Core.Detection;

/// <summary>The outcome of one evaluation tick for one service.</summary>
/// <param name="Brake">The mass-failure brake's decision (raise an event when <see cref="BrakeDecision.Change"/> is not None).</param>
/// <param name="Transitions">Instances whose status changed, with the change.</param>
/// <param name="ToRemove">Instances critical for RemoveAfter; always empty while the brake is engaged.</param>
public sealed record ServiceEvaluation<TKey>(
    BrakeDecision Brake,
    IReadOnlyList<KeyValuePair<TKey, HealthTransition>> Transitions,
    IReadOnlyList<TKey> ToRemove);

/// <summary>
/// One service's evaluation tick, in the order the brake needs: count raw Critical verdicts, ask the brake,
/// then advance every instance with the brake's decision. The server's detector loop calls this once per
/// service per <see cref="DetectorOptions.EvaluationInterval"/>; it is a convenience over the parts, which
/// remain public for callers that need a different order.
/// </summary>
public static class ServiceHealthEvaluator
{
    /// <summary>Evaluates <paramref name="instances"/> (keyed by whatever the caller uses, e.g. instance id) at <paramref name="now"/>.</summary>
    public static ServiceEvaluation<TKey> Evaluate<TKey>(
        IReadOnlyCollection<KeyValuePair<TKey, InstanceHealth>> instances, MassFailureBrake brake, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(instances);
        ArgumentNullException.ThrowIfNull(brake);

        var wouldBeCritical = 0;
        foreach (var (_, health) in instances)
        {
            if (health.Judge(now).Status == HealthStatus.Critical)
            {
                wouldBeCritical++;
            }
        }

        var decision = brake.Evaluate(instances.Count, wouldBeCritical);
        List<KeyValuePair<TKey, HealthTransition>>? transitions = null;
        List<TKey>? toRemove = null;
        foreach (var (key, health) in instances)
        {
            if (health.Evaluate(now, decision.WithholdCritical) is { } transition)
            {
                (transitions ??= []).Add(new(key, transition));
            }

            if (!decision.SuspendRemoval && health.ShouldRemove(now))
            {
                (toRemove ??= []).Add(key);
            }
        }

        return new ServiceEvaluation<TKey>(decision, transitions ?? [], toRemove ?? []);
    }
}
