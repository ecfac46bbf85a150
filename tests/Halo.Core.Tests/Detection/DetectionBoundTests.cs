using CsCheck;
using Halo.Core.Detection;
using static Halo.Core.Tests.Detection.DetectionSimulation;

namespace Halo.Core.Tests.Detection;

public class DetectionBoundTests
{
    private static readonly Gen<DetectorOptions> OptionsGen =
        Gen.Select(
            Gen.Enum<DetectorKind>(),
            Gen.Int[50, 5000],   // heartbeat interval ms
            Gen.Int[1, 10],      // missed heartbeats
            Gen.Int[10, 1000],   // evaluation interval ms
            Gen.Int[1, 5],       // down after
            Gen.Int[0, 2000],    // acceptable pause ms
            Gen.Double[1, 16],   // phi threshold
            Gen.Int[1, 1000],    // min std deviation ms
            (kind, interval, missed, evaluation, downAfter, pause, phi, std) => new DetectorOptions
            {
                Kind = kind,
                HeartbeatInterval = TimeSpan.FromMilliseconds(interval),
                MissedHeartbeats = missed,
                EvaluationInterval = TimeSpan.FromMilliseconds(evaluation),
                DownAfter = downAfter,
                AcceptablePause = TimeSpan.FromMilliseconds(pause),
                PhiThreshold = phi,
                SuspectPhi = phi / 2,
                MinStdDeviation = TimeSpan.FromMilliseconds(std),
            });

    [Fact]
    public void Compute_DefaultFixed_SumsNamedTerms()
    {
        var bound = DetectionBound.Compute(new DetectorOptions());

        // 3 × 1 s + 0 pause + 250 ms first tick + (2 − 1) × 250 ms confirmation.
        Assert.Equal(TimeSpan.FromSeconds(3.5), bound.Total);
        Assert.Equal(["missedHeartbeats", "acceptablePause", "evaluationDelay", "downAfterConfirmations"], bound.Terms.Select(t => t.Name));
        Assert.Equal(TimeSpan.FromSeconds(3.25), DetectionBound.PauseBudget(new DetectorOptions()).Total);
    }

    [Fact]
    public void Compute_DefaultPhi_UsesInversePhi()
    {
        var options = new DetectorOptions { Kind = DetectorKind.PhiAccrual };
        var bound = DetectionBound.Compute(options);

        // phi 8 is reached ≈ 5.2 σ past the mean: 1 s + 0.52 s, then 250 ms + 250 ms of evaluation.
        var margin = bound.Terms.Single(t => t.Name == "phiMargin").Value;
        Assert.InRange(margin.TotalMilliseconds, 515, 530);
        Assert.Equal(8, PhiAccrualDetector.Phi(1000 + margin.TotalMilliseconds, 1000, 100), 4);
        Assert.Equal(TimeSpan.FromSeconds(1.5) + margin, bound.Total);
    }

    [Fact]
    public void Evaluate_SilentInstance_CriticalWithinBoundButNotBeforeBudget() =>
        Gen.Select(OptionsGen, Gen.Int[0, 20], Gen.Double[0, 1]).Sample((options, heartbeats, phaseFraction) =>
        {
            var health = new InstanceHealth(options, Start);
            var beats = Steady(options.HeartbeatInterval, heartbeats);
            var last = beats.Count == 0 ? TimeSpan.Zero : beats[^1];
            var bound = DetectionBound.Compute(options).Total;
            var phase = options.EvaluationInterval * phaseFraction;

            var critical = FirstCritical(Run(health, beats, phase, last + bound + options.EvaluationInterval));

            Assert.NotNull(critical);
            Assert.InRange(critical.Value - Start - last, DetectionBound.PauseBudget(options).Total, bound);
        }, iter: 300);

    [Fact]
    public void Evaluate_HeartbeatLateWithinPauseBudget_NeverCritical() =>
        Gen.Select(OptionsGen, Gen.Int[3, 10], Gen.Double[0, 1]).Sample((options, before, phaseFraction) =>
        {
            var health = new InstanceHealth(options, Start);
            var budget = DetectionBound.PauseBudget(options).Total;
            var beats = Steady(options.HeartbeatInterval, before);
            var late = beats[^1] + budget - TimeSpan.FromMilliseconds(1);
            beats.AddRange(Steady(options.HeartbeatInterval, 5, late - options.HeartbeatInterval));
            var phase = options.EvaluationInterval * phaseFraction;

            var transitions = Run(health, beats, phase, beats[^1]);

            Assert.DoesNotContain(transitions, t => t.To == HealthStatus.Critical);
        }, iter: 300);

    [Fact]
    public void Evaluate_HeartbeatLateByPauseBudgetPlusTwoTicks_GoesCritical()
    {
        // The converse, so the budget is not just "very large": a gap of budget + 2 E always fails.
        var options = new DetectorOptions();
        var budget = DetectionBound.PauseBudget(options).Total;
        var beats = new List<TimeSpan> { TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1) + budget + (options.EvaluationInterval * 2) };
        var transitions = Run(new InstanceHealth(options, Start), beats, TimeSpan.FromMilliseconds(30), beats[^1]);
        Assert.Contains(transitions, t => t.To == HealthStatus.Critical);
    }

    [Fact]
    public void PauseBudget_AcceptablePause_AddsOneForOne()
    {
        var without = DetectionBound.PauseBudget(new DetectorOptions { Kind = DetectorKind.PhiAccrual }).Total;
        var with = DetectionBound.PauseBudget(new DetectorOptions { Kind = DetectorKind.PhiAccrual, AcceptablePause = TimeSpan.FromSeconds(5) }).Total;
        Assert.Equal(TimeSpan.FromSeconds(5), with - without);
    }
}
