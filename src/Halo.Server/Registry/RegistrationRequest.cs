using Halo.Core.Detection;
using Halo.Core.Registry;

namespace Halo.Server.Registry;

/// <summary>Body of PUT /v1/services/{service}/instances/{id}. Absent fields take documented defaults.</summary>
public sealed record RegistrationRequest
{
    public string? Address { get; init; }
    public int? Port { get; init; }
    public int? Weight { get; init; }
    public string? Zone { get; init; }
    public List<string>? Tags { get; init; }
    public Dictionary<string, string>? Metadata { get; init; }

    /// <summary>Heartbeat period the instance promises; also the detector's heartbeat interval. Default 1 s.</summary>
    public TimeSpan? Ttl { get; init; }

    public CheckRequest? Check { get; init; }
    public DetectorRequest? Detector { get; init; }
}

public sealed record CheckRequest
{
    public CheckType? Type { get; init; }
    public string? Path { get; init; }
    public TimeSpan? Interval { get; init; }
    public TimeSpan? Timeout { get; init; }
}

/// <summary>Detector settings in a registration; each absent field comes from the server's detector for the service.</summary>
public sealed record DetectorRequest
{
    public DetectorKind? Kind { get; init; }
    public int? MissedHeartbeats { get; init; }
    public double? PhiThreshold { get; init; }
    public double? SuspectPhi { get; init; }
    public TimeSpan? MinStdDeviation { get; init; }
    public TimeSpan? AcceptablePause { get; init; }
    public int? SampleWindow { get; init; }
    public int? DownAfter { get; init; }
    public int? UpAfter { get; init; }
    public TimeSpan? EvaluationInterval { get; init; }
    public TimeSpan? RemoveAfter { get; init; }

    public DetectorOptions ApplyTo(DetectorOptions baseline, TimeSpan heartbeatInterval) => baseline with
    {
        HeartbeatInterval = heartbeatInterval,
        Kind = Kind ?? baseline.Kind,
        MissedHeartbeats = MissedHeartbeats ?? baseline.MissedHeartbeats,
        PhiThreshold = PhiThreshold ?? baseline.PhiThreshold,
        SuspectPhi = SuspectPhi ?? baseline.SuspectPhi,
        MinStdDeviation = MinStdDeviation ?? baseline.MinStdDeviation,
        AcceptablePause = AcceptablePause ?? baseline.AcceptablePause,
        SampleWindow = SampleWindow ?? baseline.SampleWindow,
        DownAfter = DownAfter ?? baseline.DownAfter,
        UpAfter = UpAfter ?? baseline.UpAfter,
        EvaluationInterval = EvaluationInterval ?? baseline.EvaluationInterval,
        RemoveAfter = RemoveAfter ?? baseline.RemoveAfter,
    };
}
