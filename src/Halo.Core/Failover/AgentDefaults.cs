namespace Halo.Core.Failover;

/// <summary>
/// The agent's built-in probe timings, in one place for the agent that uses them and for the fault model that predicts from them
/// (<see cref="Availability.FaultPrediction"/>), so a change to one cannot leave the other predicting from a stale value.
/// </summary>
public static class AgentDefaults
{
    /// <summary>How long one Redis probe command may take before it counts as timed out.</summary>
    public static readonly TimeSpan RedisProbeTimeout = TimeSpan.FromMilliseconds(250);

    /// <summary>How long probes may keep timing out before the agent reports the database down (AgentOptions.ProbeTimeoutGrace).</summary>
    public static readonly TimeSpan ProbeTimeoutGrace = TimeSpan.FromSeconds(1);
}
