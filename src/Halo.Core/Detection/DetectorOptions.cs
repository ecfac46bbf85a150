namespace Halo.Core.Detection;

/// <summary>Which failure detector judges a service's instances.</summary>
public enum DetectorKind
{
    /// <summary>Down after a fixed number of missed heartbeat intervals.</summary>
    Fixed,
    /// <summary>Phi accrual (Hayashibara et al., 2004): suspicion grows with silence relative to observed inter-arrival times.</summary>
    PhiAccrual,
}

/// <summary>
/// How one service's instances are judged alive. Defaults give a fixed detector with a 1 s heartbeat
/// that declares an instance down after 3 missed intervals, confirmed by 2 consecutive observations.
/// </summary>
public sealed record DetectorOptions
{
    /// <summary>Detector algorithm. Default <see cref="DetectorKind.Fixed"/>.</summary>
    public DetectorKind Kind { get; init; } = DetectorKind.Fixed;

    /// <summary>Expected interval between heartbeats (the instance's TTL period). Default 1 s; range 50 ms – 1 h.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Fixed detector: missed intervals before an instance is critical. Default 3; range 1 – 100.</summary>
    public int MissedHeartbeats { get; init; } = 3;

    /// <summary>Phi accrual: phi at or above which an instance is critical. Default 8; range 1 – 16.</summary>
    public double PhiThreshold { get; init; } = 8;

    /// <summary>Phi accrual: phi at or above which an instance is suspect (not yet critical). Default 3; greater than 0 and below <see cref="PhiThreshold"/>.</summary>
    public double SuspectPhi { get; init; } = 3;

    /// <summary>Phi accrual: floor on the inter-arrival standard deviation so a very regular sender is not judged too harshly. Default 100 ms; range 1 ms – 1 h.</summary>
    public TimeSpan MinStdDeviation { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Extra silence tolerated before suspicion starts (GC pauses, brief stalls); both detectors add it to their threshold. Default 0; range 0 – 1 h.</summary>
    public TimeSpan AcceptablePause { get; init; } = TimeSpan.Zero;

    /// <summary>Phi accrual: how many recent inter-arrival samples are kept. Default 100; range 2 – 10,000.</summary>
    public int SampleWindow { get; init; } = 100;

    /// <summary>Hysteresis: consecutive critical observations before the instance is declared critical. Default 2; range 1 – 100.</summary>
    public int DownAfter { get; init; } = 2;

    /// <summary>Hysteresis: consecutive heartbeats after being critical before it is passing again. Default 2; range 1 – 100.</summary>
    public int UpAfter { get; init; } = 2;

    /// <summary>How often the server evaluates every instance. Default 250 ms; range 10 ms – 1 min.</summary>
    public TimeSpan EvaluationInterval { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>When set, an instance critical this long is deregistered (unless the mass-failure brake is engaged). Default null (never); range 1 s – 30 days.</summary>
    public TimeSpan? RemoveAfter { get; init; }
}
