namespace Halo.Core.Detection;

/// <summary>How alive an instance is judged to be.</summary>
public enum HealthStatus
{
    /// <summary>Heartbeats arrive on time; the instance receives traffic.</summary>
    Passing,
    /// <summary>Heartbeats are late, or critical observations are not yet confirmed (hysteresis, mass-failure brake).</summary>
    Suspect,
    /// <summary>Confirmed down: the detector said critical on <see cref="DetectorOptions.DownAfter"/> consecutive evaluations.</summary>
    Critical,
}

/// <summary>What a detector saw when it judged an instance; carried in verdicts and transitions.</summary>
/// <param name="LastHeartbeat">Last heartbeat received, or null when none has arrived since registration.</param>
/// <param name="Silence">Time since the last heartbeat (or since registration when there was none).</param>
/// <param name="Phi">Phi-accrual suspicion level; null for the fixed detector.</param>
/// <param name="MissedIntervals">Whole heartbeat intervals elapsed without a heartbeat.</param>
public readonly record struct HealthEvidence(
    DateTimeOffset? LastHeartbeat,
    TimeSpan Silence,
    double? Phi,
    int? MissedIntervals);

/// <summary>One detector judgement: the raw status (before hysteresis) and the evidence behind it.</summary>
public readonly record struct DetectorVerdict(HealthStatus Status, HealthEvidence Evidence);

/// <summary>An instance's health changed. <paramref name="Cause"/> is human text for events and logs.</summary>
/// <param name="From">Status before.</param>
/// <param name="To">Status after.</param>
/// <param name="Cause">Why, e.g. "missed 3 heartbeats (3.2 s silent)".</param>
/// <param name="Evidence">The detector's evidence at the moment of the change.</param>
/// <param name="At">The evaluation time at which the change was decided.</param>
public sealed record HealthTransition(
    HealthStatus From,
    HealthStatus To,
    string Cause,
    HealthEvidence Evidence,
    DateTimeOffset At);
