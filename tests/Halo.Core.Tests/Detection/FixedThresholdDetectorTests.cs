using Halo.Core.Detection;

namespace Halo.Core.Tests.Detection;

public class FixedThresholdDetectorTests
{
    private static readonly DateTimeOffset T0 = DetectionSimulation.Start;

    [Theory]
    [InlineData(999, HealthStatus.Passing, 0)]
    [InlineData(1499, HealthStatus.Passing, 1)]
    [InlineData(1500, HealthStatus.Suspect, 1)]
    [InlineData(2999, HealthStatus.Suspect, 2)]
    [InlineData(3000, HealthStatus.Critical, 3)]
    public void Judge_SilenceSinceRegistration_CountsMissedIntervals(int silenceMs, HealthStatus expected, int missed)
    {
        var verdict = new FixedThresholdDetector(new DetectorOptions()).Judge(new HeartbeatHistory(T0, 0), T0.AddMilliseconds(silenceMs));
        Assert.Equal(expected, verdict.Status);
        Assert.Equal(missed, verdict.Evidence.MissedIntervals);
        Assert.Null(verdict.Evidence.Phi);
    }

    [Fact]
    public void Judge_AfterHeartbeat_MeasuresSilenceFromIt()
    {
        var history = new HeartbeatHistory(T0, 0);
        history.Add(T0.AddSeconds(10));
        var verdict = new FixedThresholdDetector(new DetectorOptions()).Judge(history, T0.AddSeconds(12));
        Assert.Equal(TimeSpan.FromSeconds(2), verdict.Evidence.Silence);
        Assert.Equal(T0.AddSeconds(10), verdict.Evidence.LastHeartbeat);
    }

    [Fact]
    public void Judge_AcceptablePause_AddsToThreshold()
    {
        var detector = new FixedThresholdDetector(new DetectorOptions { AcceptablePause = TimeSpan.FromSeconds(2) });
        Assert.Equal(HealthStatus.Suspect, detector.Judge(new HeartbeatHistory(T0, 0), T0.AddMilliseconds(4999)).Status);
        Assert.Equal(HealthStatus.Critical, detector.Judge(new HeartbeatHistory(T0, 0), T0.AddSeconds(5)).Status);
    }

    [Fact]
    public void Judge_OneMissedHeartbeat_SuspectNeverAfterCritical()
    {
        var detector = new FixedThresholdDetector(new DetectorOptions { MissedHeartbeats = 1 });
        Assert.Equal(detector.CriticalAfter, detector.SuspectAfter);
        Assert.Equal(HealthStatus.Critical, detector.Judge(new HeartbeatHistory(T0, 0), T0.AddSeconds(1)).Status);
    }

    [Fact]
    public void Judge_ClockBehindLastHeartbeat_SilenceIsZero()
    {
        var history = new HeartbeatHistory(T0, 0);
        history.Add(T0.AddSeconds(5));
        Assert.Equal(TimeSpan.Zero, new FixedThresholdDetector(new DetectorOptions()).Judge(history, T0).Evidence.Silence);
    }
}
