using CsCheck;
using Halo.Core.Detection;

namespace Halo.Core.Tests.Detection;

/// <summary>
/// <see cref="IFailureDetector.WorsensAt"/> is what lets the server leave a quiet instance alone: if it were late, a verdict
/// change would go unseen (and uncounted by the brake); if it were far early, the schedule would save nothing.
/// </summary>
public class WorsensAtTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void WorsensAt_Fixed_IsExactlyWhereTheVerdictChanges()
    {
        var options = new DetectorOptions { HeartbeatInterval = TimeSpan.FromSeconds(1), MissedHeartbeats = 3, AcceptablePause = TimeSpan.FromMilliseconds(200) };
        var detector = new FixedThresholdDetector(options);
        var history = new HeartbeatHistory(T0, 0);
        history.Add(T0 + TimeSpan.FromSeconds(2));

        var suspectAt = detector.WorsensAt(history, HealthStatus.Passing);
        var criticalAt = detector.WorsensAt(history, HealthStatus.Suspect);

        Assert.Equal(T0 + TimeSpan.FromMilliseconds(2000 + 1500 + 200), suspectAt);
        Assert.Equal(HealthStatus.Passing, detector.Judge(history, suspectAt - TimeSpan.FromTicks(1)).Status);
        Assert.Equal(HealthStatus.Suspect, detector.Judge(history, suspectAt).Status);
        Assert.Equal(HealthStatus.Suspect, detector.Judge(history, criticalAt - TimeSpan.FromTicks(1)).Status);
        Assert.Equal(HealthStatus.Critical, detector.Judge(history, criticalAt).Status);
        Assert.Equal(DateTimeOffset.MaxValue, detector.WorsensAt(history, HealthStatus.Critical));
    }

    [Fact]
    public void WorsensAt_PhiAccrual_NeverLateAndAtMostAFewMillisecondsEarly() =>
        Gen.Select(Gen.Int[200, 3000], Gen.Int[0, 400].Array[0, 30], Gen.Int[0, 2000]).Sample((interval, jitters, pause) =>
        {
            var options = new DetectorOptions
            {
                Kind = DetectorKind.PhiAccrual, HeartbeatInterval = TimeSpan.FromMilliseconds(interval), AcceptablePause = TimeSpan.FromMilliseconds(pause),
            };
            var detector = new PhiAccrualDetector(options);
            var history = new HeartbeatHistory(T0, options.SampleWindow);
            var at = T0;
            foreach (var jitter in jitters)
            {
                at += TimeSpan.FromMilliseconds(interval + jitter);
                history.Add(at);
            }

            foreach (var (from, to) in new[] { (HealthStatus.Passing, HealthStatus.Suspect), (HealthStatus.Suspect, HealthStatus.Critical) })
            {
                var worsens = detector.WorsensAt(history, from);
                Assert.True(detector.Judge(history, worsens - TimeSpan.FromMilliseconds(1)).Status <= from, $"{from} already worse before {worsens:O}");
                Assert.True(detector.Judge(history, worsens + TimeSpan.FromMilliseconds(3)).Status >= to, $"{from} still not {to} after {worsens:O}");
            }
        });

    [Fact]
    public void WorsensAt_PhiAccrualCritical_Never()
    {
        var detector = new PhiAccrualDetector(new DetectorOptions { Kind = DetectorKind.PhiAccrual });
        Assert.Equal(DateTimeOffset.MaxValue, detector.WorsensAt(new HeartbeatHistory(T0, 100), HealthStatus.Critical));
    }

    [Fact]
    public void Outlook_SilentInstance_ReportsRawVerdictAndNextChange()
    {
        var health = new InstanceHealth(new DetectorOptions(), T0);

        var (raw, worsens) = health.Outlook(T0 + TimeSpan.FromSeconds(2));

        Assert.Equal(HealthStatus.Suspect, raw);
        Assert.Equal(T0 + TimeSpan.FromSeconds(3), worsens);
        Assert.True(health.IsQuiet, "no evaluation ran, so nothing is in progress");
        health.Evaluate(T0 + TimeSpan.FromSeconds(2));
        Assert.False(health.IsQuiet);
    }
}
