namespace Halo.Core.Detection;

/// <summary>
/// The classic TTL detector (Consul/Eureka style): critical once the silence reaches
/// <see cref="DetectorOptions.MissedHeartbeats"/> × <see cref="DetectorOptions.HeartbeatInterval"/>
/// plus <see cref="DetectorOptions.AcceptablePause"/>; suspect once a heartbeat is half an interval overdue.
/// </summary>
public sealed class FixedThresholdDetector : IFailureDetector
{
    /// <summary>Creates the detector; options are assumed validated (<see cref="DetectorOptionsValidator"/>).</summary>
    public FixedThresholdDetector(DetectorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Interval = options.HeartbeatInterval;
        CriticalAfter = (options.HeartbeatInterval * options.MissedHeartbeats) + options.AcceptablePause;
        // Half an interval of lateness is ordinary jitter-plus-one; beyond it the instance is worth flagging.
        // Never later than critical, so MissedHeartbeats = 1 still has an ordered Suspect < Critical.
        var suspect = (options.HeartbeatInterval * 1.5) + options.AcceptablePause;
        SuspectAfter = suspect < CriticalAfter ? suspect : CriticalAfter;
    }

    /// <summary>Expected heartbeat interval.</summary>
    public TimeSpan Interval { get; }

    /// <summary>Silence at or beyond which the verdict is critical.</summary>
    public TimeSpan CriticalAfter { get; }

    /// <summary>Silence at or beyond which the verdict is at least suspect.</summary>
    public TimeSpan SuspectAfter { get; }

    /// <inheritdoc />
    public DetectorVerdict Judge(HeartbeatHistory history, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(history);
        var silence = FailureDetector.Silence(history, now);
        var evidence = new HealthEvidence(history.LastHeartbeat, silence, null, FailureDetector.Missed(silence, Interval));
        var status = silence >= CriticalAfter ? HealthStatus.Critical
            : silence >= SuspectAfter ? HealthStatus.Suspect
            : HealthStatus.Passing;
        return new DetectorVerdict(status, evidence);
    }

    /// <inheritdoc />
    public DateTimeOffset WorsensAt(HeartbeatHistory history, HealthStatus current)
    {
        ArgumentNullException.ThrowIfNull(history);
        return current switch
        {
            HealthStatus.Passing => FailureDetector.After(history, SuspectAfter),
            HealthStatus.Suspect => FailureDetector.After(history, CriticalAfter),
            _ => DateTimeOffset.MaxValue,
        };
    }
}
