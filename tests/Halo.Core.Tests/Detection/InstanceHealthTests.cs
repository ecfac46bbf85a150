using Halo.Core.Detection;
using static Halo.Core.Tests.Detection.DetectionSimulation;

namespace Halo.Core.Tests.Detection;

public class InstanceHealthTests
{
    // Fixed: 1 s interval, critical at 3 s of silence, DownAfter 2, UpAfter 2, ticks every 250 ms.
    private static readonly DetectorOptions Defaults = new();
    private static readonly TimeSpan Ms = TimeSpan.FromMilliseconds(1);

    [Fact]
    public void Constructor_NewInstance_StartsPassing()
    {
        var health = new InstanceHealth(Defaults, Start);
        Assert.Equal(HealthStatus.Passing, health.Status);
        Assert.Null(health.LastHeartbeat);
        Assert.Null(health.Evaluate(Start.AddMilliseconds(500)));
    }

    [Fact]
    public void Constructor_InvalidOptions_ThrowsNamingField()
    {
        var error = Assert.Throws<ArgumentException>(() => new InstanceHealth(Defaults with { DownAfter = 0 }, Start));
        Assert.Contains("downAfter", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Evaluate_NeverHeartbeats_DeadlineCountsFromRegistration()
    {
        var health = new InstanceHealth(Defaults, Start);
        var transitions = Run(health, [], TimeSpan.Zero, TimeSpan.FromSeconds(10));

        // Suspect at 1.5 s, first critical observation at 3.0 s, confirmed at 3.25 s.
        Assert.Equal([HealthStatus.Suspect, HealthStatus.Critical], transitions.Select(t => t.To));
        Assert.Equal(Start.AddSeconds(1.5), transitions[0].At);
        Assert.Equal(Start.AddSeconds(3.25), transitions[1].At);
        Assert.Equal("missed 3 heartbeats (3.25 s silent)", transitions[1].Cause);
        Assert.Null(transitions[1].Evidence.LastHeartbeat);
    }

    [Fact]
    public void Evaluate_SingleCriticalObservation_OnlySuspect()
    {
        var health = new InstanceHealth(Defaults with { DownAfter = 3 }, Start);
        var transition = health.Evaluate(Start.AddSeconds(3));
        Assert.Equal(HealthStatus.Suspect, transition!.To);
        Assert.Contains("critical observation 1 of 3", transition.Cause, StringComparison.Ordinal);
        Assert.Null(health.Evaluate(Start.AddSeconds(3.25)));
        Assert.Equal(HealthStatus.Critical, health.Evaluate(Start.AddSeconds(3.5))!.To);
    }

    [Fact]
    public void Evaluate_HeartbeatWhileSuspect_ReturnsToPassing()
    {
        var health = new InstanceHealth(Defaults, Start);
        health.Evaluate(Start.AddSeconds(2));
        health.RecordHeartbeat(Start.AddSeconds(2.1));
        var transition = health.Evaluate(Start.AddSeconds(2.25));
        Assert.Equal((HealthStatus.Suspect, HealthStatus.Passing), (transition!.From, transition.To));
        Assert.Equal(Start.AddSeconds(2.1), health.LastHeartbeat);
    }

    [Fact]
    public void Evaluate_FlappingLateHeartbeats_DampedByDownAfter()
    {
        // Every other heartbeat arrives 3.2 s after the previous one: one tick (at +3.0 s) sees it critical.
        var heartbeats = Alternating(TimeSpan.FromSeconds(3.2), TimeSpan.FromSeconds(1), 20);
        var damped = Run(new InstanceHealth(Defaults, Start), heartbeats, TimeSpan.Zero, heartbeats[^1]);
        var undamped = Run(new InstanceHealth(Defaults with { DownAfter = 1, UpAfter = 1 }, Start), heartbeats, TimeSpan.Zero, heartbeats[^1]);

        Assert.DoesNotContain(damped, t => t.To == HealthStatus.Critical);
        // 8 of the 10 late gaps contain a tick (the ones ending at 20.0 s and 41.0 s end on a tick).
        Assert.Equal(8, undamped.Count(t => t.To == HealthStatus.Critical));
    }

    [Fact]
    public void Evaluate_FlappingAfterCritical_NeedsUpAfterConsecutiveHeartbeats()
    {
        var health = new InstanceHealth(Defaults, Start);
        Run(health, [], TimeSpan.Zero, TimeSpan.FromSeconds(5));
        Assert.Equal(HealthStatus.Critical, health.Status);

        // Each heartbeat is followed by a 3.4 s silence that some tick catches — the recovery run keeps resetting.
        var from = TimeSpan.FromSeconds(5);
        var flapping = Steady(TimeSpan.FromSeconds(3.4), 10, from);
        Assert.Empty(Run(health, flapping, from + (Ms * 250), flapping[^1] + TimeSpan.FromMilliseconds(50)));
        Assert.Equal(HealthStatus.Critical, health.Status);
    }

    [Fact]
    public void Evaluate_UpAfterHeartbeats_RecoversToPassing()
    {
        var health = new InstanceHealth(Defaults with { UpAfter = 3 }, Start);
        Run(health, [], TimeSpan.Zero, TimeSpan.FromSeconds(5));
        Assert.Equal(Start.AddSeconds(3.25), health.CriticalSince);

        health.RecordHeartbeat(Start.AddSeconds(5.1));
        Assert.Null(health.Evaluate(Start.AddSeconds(5.25)));
        health.RecordHeartbeat(Start.AddSeconds(6.1));
        Assert.Null(health.Evaluate(Start.AddSeconds(6.25)));
        health.RecordHeartbeat(Start.AddSeconds(7.1));
        var transition = health.Evaluate(Start.AddSeconds(7.25));

        Assert.Equal((HealthStatus.Critical, HealthStatus.Passing), (transition!.From, transition.To));
        Assert.Equal("3 heartbeats after being critical", transition.Cause);
        Assert.Null(health.CriticalSince);
    }

    [Fact]
    public void ShouldRemove_CriticalForRemoveAfter_True()
    {
        var health = new InstanceHealth(Defaults with { RemoveAfter = TimeSpan.FromSeconds(10) }, Start);
        Assert.False(health.ShouldRemove(Start.AddHours(1))); // passing: never removed
        Run(health, [], TimeSpan.Zero, TimeSpan.FromSeconds(4)); // critical at 3.25 s

        Assert.False(health.ShouldRemove(Start.AddSeconds(13.24)));
        Assert.True(health.ShouldRemove(Start.AddSeconds(13.25)));
    }

    [Fact]
    public void ShouldRemove_NoRemoveAfter_NeverTrue()
    {
        var health = new InstanceHealth(Defaults, Start);
        Run(health, [], TimeSpan.Zero, TimeSpan.FromSeconds(4));
        Assert.False(health.ShouldRemove(Start.AddDays(365)));
    }

    [Fact]
    public void Evaluate_HoldCritical_StaysSuspectThenGoesCriticalOnRelease()
    {
        var health = new InstanceHealth(Defaults, Start);
        for (var s = 3.0; s <= 6; s += 0.25)
        {
            var transition = health.Evaluate(Start.AddSeconds(s), holdCritical: true);
            Assert.NotEqual(HealthStatus.Critical, health.Status);
            if (transition is not null)
            {
                Assert.Contains("mass-failure brake", transition.Cause, StringComparison.Ordinal);
            }
        }

        Assert.Equal(HealthStatus.Critical, health.Evaluate(Start.AddSeconds(6.25), holdCritical: false)!.To);
    }

    [Fact]
    public void Judge_DoesNotChangeState()
    {
        var health = new InstanceHealth(Defaults with { DownAfter = 1 }, Start);
        Assert.Equal(HealthStatus.Critical, health.Judge(Start.AddSeconds(5)).Status);
        Assert.Equal(HealthStatus.Passing, health.Status);
    }

    [Fact]
    public void RecordHeartbeat_SteadyState_DoesNotAllocate()
    {
        var health = new InstanceHealth(Defaults with { Kind = DetectorKind.PhiAccrual }, Start);
        for (var i = 1; i <= 200; i++)
        {
            health.RecordHeartbeat(Start.AddSeconds(i)); // warm up, fill the window
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 201; i <= 10_200; i++)
        {
            health.RecordHeartbeat(Start.AddSeconds(i));
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public async Task RecordHeartbeat_ConcurrentWithEvaluate_StaysConsistent()
    {
        var health = new InstanceHealth(Defaults with { Kind = DetectorKind.PhiAccrual }, Start);
        var writers = Enumerable.Range(0, 4).Select(w => Task.Run(() =>
        {
            for (var i = 0; i < 50_000; i++)
            {
                health.RecordHeartbeat(Start.AddMilliseconds((i * 4) + w));
            }
        }, TestContext.Current.CancellationToken));
        var evaluator = Task.Run(() =>
        {
            for (var i = 0; i < 20_000; i++)
            {
                health.Evaluate(Start.AddMilliseconds(i * 10));
            }
        }, TestContext.Current.CancellationToken);

        await Task.WhenAll([.. writers, evaluator]);
        Assert.Equal(Start.AddMilliseconds((49_999 * 4) + 3), health.LastHeartbeat);
        Assert.True(health.Judge(health.LastHeartbeat!.Value).Evidence.Phi >= 0);
    }

    [Fact]
    public void Resume_Critical_StaysCriticalUntilUpAfterHeartbeats()
    {
        var options = new DetectorOptions();
        var health = InstanceHealth.Resume(options, HealthStatus.Critical, Start);

        Assert.Null(health.Evaluate(Start.AddMilliseconds(250)));
        Assert.Equal(HealthStatus.Critical, health.Status);
        for (var i = 1; i <= options.UpAfter; i++)
        {
            health.RecordHeartbeat(Start.AddSeconds(i));
        }

        Assert.Equal(HealthStatus.Passing, health.Evaluate(Start.AddSeconds(options.UpAfter))?.To);
    }

    [Fact]
    public void Resume_Suspect_GraceAloneIsNoEvidenceOfHealth()
    {
        var health = InstanceHealth.Resume(new DetectorOptions(), HealthStatus.Suspect, Start);

        // Silence counts from the resume, so the detector sees nothing wrong, but nothing right either: stay suspect.
        Assert.Null(health.Evaluate(Start.AddMilliseconds(500)));
        health.RecordHeartbeat(Start.AddMilliseconds(600));
        Assert.Equal(HealthStatus.Passing, health.Evaluate(Start.AddMilliseconds(750))?.To);
    }

    [Fact]
    public void Resume_SilentAfterResume_CriticalWithinTheBoundFromTheResume()
    {
        var options = new DetectorOptions();
        var health = InstanceHealth.Resume(options, HealthStatus.Passing, Start);
        var transitions = DetectionSimulation.Run(health, [], TimeSpan.Zero, TimeSpan.FromSeconds(10));

        var critical = transitions.Single(t => t.To == HealthStatus.Critical);
        Assert.InRange(critical.At - Start, DetectionBound.PauseBudget(options).Total, DetectionBound.Compute(options).Total);
    }

    // Gaps alternating long/short: long, short, long, short, ... (offsets from Start).
    private static List<TimeSpan> Alternating(TimeSpan longGap, TimeSpan shortGap, int count)
    {
        var times = new List<TimeSpan>();
        var t = TimeSpan.Zero;
        for (var i = 0; i < count; i++)
        {
            t += i % 2 == 0 ? longGap : shortGap;
            times.Add(t);
        }

        return times;
    }
}
