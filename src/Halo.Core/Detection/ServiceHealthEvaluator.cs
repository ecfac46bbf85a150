namespace Halo.Core.Detection;

/// <summary>One instance as a service's evaluation tick sees it.</summary>
/// <param name="Key">Whatever the caller identifies instances by (e.g. the instance id).</param>
/// <param name="Health">Its detector state machine (advanced by the tick when <paramref name="Due"/>).</param>
/// <param name="Published">The status the world currently sees (the stored record's).</param>
/// <param name="Due">True when its evaluation interval has passed since it was last evaluated.</param>
/// <param name="Callers">What callers (gateways) report about it now.</param>
/// <param name="HeldByCallers">True while its published status is worse than its detector's because callers report failures.</param>
public sealed record InstanceObservation<TKey>(
    TKey Key, InstanceHealth Health, HealthStatus Published, bool Due, CallerVerdict Callers, bool HeldByCallers);

/// <summary>What a tick decided about one instance. Only instances with something to do or remember are reported.</summary>
/// <param name="Key">The instance.</param>
/// <param name="Transition">The detector's transition this tick, or null (kept as the evidence of what gets published).</param>
/// <param name="Desired">The status to publish; publish when it differs from the published one.</param>
/// <param name="Cause">Why, when it is not the detector's transition (callers' evidence, or its end).</param>
/// <param name="HeldByCallers">The new value of <see cref="InstanceObservation{TKey}.HeldByCallers"/>.</param>
/// <param name="Remove">Critical for longer than RemoveAfter, nothing to publish, and the brake allows removal.</param>
public sealed record InstanceDecision<TKey>(TKey Key, HealthTransition? Transition, HealthStatus Desired, string? Cause, bool HeldByCallers, bool Remove);

/// <summary>The outcome of one evaluation tick for one service.</summary>
/// <param name="Brake">The mass-failure brake's decision (raise an event when <see cref="BrakeDecision.Change"/> is not None).</param>
/// <param name="Decisions">Instances that changed or have something to publish or remove.</param>
public sealed record ServiceEvaluation<TKey>(BrakeDecision Brake, IReadOnlyList<InstanceDecision<TKey>> Decisions);

/// <summary>
/// One service's evaluation tick, in the order the brake needs: count raw Critical verdicts over every instance, ask the
/// brake, then advance each due instance with the brake's decision, and let callers' evidence override a detector that
/// still sees heartbeats (an instance that heartbeats but fails nearly every real request is not healthy). Pure: the
/// server's detector loop supplies the observations and carries out the decisions. A caller that keeps the raw Critical
/// count itself (the server does, so a tick visits only the instances whose evaluation is due) asks the brake and calls
/// <see cref="Decide"/> for the instances it visits.
/// </summary>
public static class ServiceHealthEvaluator
{
    public static ServiceEvaluation<TKey> Evaluate<TKey>(IReadOnlyCollection<InstanceObservation<TKey>> instances, MassFailureBrake brake, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(instances);
        ArgumentNullException.ThrowIfNull(brake);

        // The brake looks at raw verdicts, before hysteresis, so it engages before the first instance is published critical.
        var wouldBeCritical = 0;
        foreach (var o in instances)
        {
            if (o.Health.Judge(now).Status == HealthStatus.Critical)
            {
                wouldBeCritical++;
            }
        }

        var decision = brake.Evaluate(instances.Count, wouldBeCritical);
        List<InstanceDecision<TKey>>? decisions = null;
        foreach (var o in instances)
        {
            if (Decide(o, decision, now) is { } d)
            {
                (decisions ??= []).Add(d);
            }
        }

        return new ServiceEvaluation<TKey>(decision, decisions ?? []);
    }

    /// <summary>
    /// One instance's part of a tick, after the brake decided: advances its detector when due and says what to publish or
    /// remove; null when there is nothing to do or remember.
    /// </summary>
    public static InstanceDecision<TKey>? Decide<TKey>(InstanceObservation<TKey> o, BrakeDecision brake, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(brake);
        var transition = o.Due ? o.Health.Evaluate(now, brake.WithholdCritical) : null;
        var detector = o.Health.Status;
        var desired = detector;
        string? cause = null;
        if (o.Callers.Failing && detector != HealthStatus.Critical)
        {
            // Heartbeats say alive, callers say every request fails: callers win, held at suspect while the brake is on.
            desired = brake.WithholdCritical ? HealthStatus.Suspect : HealthStatus.Critical;
            cause = o.Callers.Describe();
        }
        else if (o.HeldByCallers && detector != o.Published)
        {
            cause = "caller reports no longer show failures; detector says " + detector.ToString().ToLowerInvariant();
        }

        var held = cause is not null && desired != detector;
        var remove = desired == o.Published && !brake.SuspendRemoval && o.Health.ShouldRemove(now);
        return transition is not null || desired != o.Published || held != o.HeldByCallers || remove
            ? new InstanceDecision<TKey>(o.Key, transition, desired, cause, held, remove)
            : null;
    }
}
