using CsCheck;
using Halo.Core.Detection;

namespace Halo.Core.Tests.Detection;

public class PhiAccrualDetectorTests
{
    private static readonly DetectorOptions Options = new() { Kind = DetectorKind.PhiAccrual };

    // Hand-computed: y = (t - mean)/σ, phi = log10(1 + e^(y(1.5976 + 0.070566 y²))).
    [Theory]
    [InlineData(1000, 1000, 100, 0.30103)]   // y = 0: log10(2)
    [InlineData(1200, 1000, 100, 1.64283)]   // y = 2: e^3.75973 = 42.93; log10(43.93)
    [InlineData(1500, 1000, 100, 7.299947)]   // y = 5: e^16.80888
    [InlineData(800, 1000, 100, 0.0099988)]  // y = -2: log10(1 + e^-3.75973)
    [InlineData(3000, 1000, 200, 37.58471)]  // y = 10: far tail stays finite
    public void Phi_KnownPoints_MatchHandComputedValues(double silence, double mean, double std, double expected) =>
        Assert.Equal(expected, PhiAccrualDetector.Phi(silence, mean, std), 4);

    [Fact]
    public void Phi_TwoSigmaLate_CloseToExactNormalTail()
    {
        // Exact: P(X > mean + 2σ) = 0.02275, -log10 = 1.643; the logistic approximation agrees to ~1e-3 here.
        Assert.InRange(PhiAccrualDetector.Phi(2, 0, 1), 1.640, 1.646);
    }

    [Fact]
    public void Phi_HugeSilence_IsFiniteAndLarge()
    {
        var phi = PhiAccrualDetector.Phi(1e9, 1000, 1);
        Assert.True(double.IsFinite(phi));
        Assert.True(phi > 1000);
    }

    [Fact]
    public void SilenceAt_IsInverseOfPhi() =>
        Gen.Select(Gen.Double[0.5, 16], Gen.Double[0, 10_000], Gen.Double[1, 1000]).Sample((phi, mean, std) =>
        {
            var silence = PhiAccrualDetector.SilenceAt(phi, mean, std);
            Assert.Equal(phi, PhiAccrualDetector.Phi(silence, mean, std), 6);
        });

    [Fact]
    public void Phi_IncreasesWithSilence() =>
        Gen.Select(Gen.Double[0, 5000], Gen.Double[0.001, 5000]).Sample((t, dt) =>
            Assert.True(PhiAccrualDetector.Phi(t + dt, 1000, 100) >= PhiAccrualDetector.Phi(t, 1000, 100)));

    [Fact]
    public void Judge_NoSamples_BootstrapsFromConfiguredInterval()
    {
        var history = new HeartbeatHistory(DetectionSimulation.Start, Options.SampleWindow);
        var verdict = new PhiAccrualDetector(Options).Judge(history, DetectionSimulation.Start.AddMilliseconds(1200));

        // mean = 1 s (configured), σ = 100 ms (min std deviation) → y = 2.
        Assert.Equal(1.64283, verdict.Evidence.Phi!.Value, 4);
        Assert.Equal(HealthStatus.Passing, verdict.Status);
        Assert.Null(verdict.Evidence.LastHeartbeat);
        Assert.Equal(1, verdict.Evidence.MissedIntervals);
    }

    [Fact]
    public void Judge_ObservedSamples_UsesObservedMeanAndDeviation()
    {
        var history = new HeartbeatHistory(DetectionSimulation.Start, 100);
        var t = DetectionSimulation.Start;
        foreach (var gap in new[] { 0, 1800, 2200, 1800, 2200 })
        {
            t = t.AddMilliseconds(gap);
            history.Add(t);
        }

        // mean 2000 ms, σ 200 ms: 2.4 s of silence is y = 2 (the 1 s configured interval is no longer used).
        var verdict = new PhiAccrualDetector(Options).Judge(history, t.AddMilliseconds(2400));
        Assert.Equal(1.64283, verdict.Evidence.Phi!.Value, 4);
    }

    [Theory]
    [InlineData(1100, HealthStatus.Passing)]  // y = 1: phi 0.86
    [InlineData(1400, HealthStatus.Suspect)]  // y = 4: phi 4.8
    [InlineData(1600, HealthStatus.Critical)] // y = 6: phi 10.8
    public void Judge_Silence_MapsPhiToStatus(int silenceMs, HealthStatus expected)
    {
        var history = new HeartbeatHistory(DetectionSimulation.Start, 100);
        Assert.Equal(expected, new PhiAccrualDetector(Options).Judge(history, DetectionSimulation.Start.AddMilliseconds(silenceMs)).Status);
    }

    [Fact]
    public void Judge_AcceptablePause_ShiftsTheMean()
    {
        var options = Options with { AcceptablePause = TimeSpan.FromSeconds(3) };
        var history = new HeartbeatHistory(DetectionSimulation.Start, 100);
        var verdict = new PhiAccrualDetector(options).Judge(history, DetectionSimulation.Start.AddMilliseconds(4000));
        Assert.Equal(0.30103, verdict.Evidence.Phi!.Value, 4);
    }
}
