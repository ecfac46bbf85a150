using Halo.Core.Detection;
using static Halo.Core.Tests.Detection.DetectionSimulation;

namespace Halo.Core.Tests.Detection;

public class MassFailureBrakeTests
{
    [Fact]
    public void Evaluate_MajorityCritical_EngagesOnceThenReleases()
    {
        var brake = new MassFailureBrake(new MassFailureBrakeOptions());

        Assert.Equal(BrakeChange.None, brake.Evaluate(6, 3).Change); // exactly 50%: not more than half
        var engaged = brake.Evaluate(6, 4);
        Assert.Equal((true, BrakeChange.Engaged), (engaged.IsEngaged, engaged.Change));
        Assert.True(engaged.WithholdCritical && engaged.SuspendRemoval);
        Assert.Equal(BrakeChange.None, brake.Evaluate(6, 5).Change);
        Assert.True(brake.IsEngaged);

        var released = brake.Evaluate(6, 1);
        Assert.Equal((false, BrakeChange.Released), (released.IsEngaged, released.Change));
        Assert.False(released.SuspendRemoval);
    }

    [Fact]
    public void Evaluate_SmallService_NeverEngages()
    {
        var brake = new MassFailureBrake(new MassFailureBrakeOptions());
        Assert.False(brake.Evaluate(2, 2).IsEngaged);
        Assert.False(brake.Evaluate(1, 1).IsEngaged);
        Assert.True(brake.Evaluate(3, 2).IsEngaged);
    }

    [Fact]
    public void Evaluate_Disabled_NeverEngages() =>
        Assert.False(new MassFailureBrake(new MassFailureBrakeOptions { Enabled = false }).Evaluate(10, 10).IsEngaged);

    [Fact]
    public void Evaluate_CountsOutOfRange_Throw()
    {
        var brake = new MassFailureBrake(new MassFailureBrakeOptions());
        Assert.Throws<ArgumentOutOfRangeException>(() => brake.Evaluate(3, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => brake.Evaluate(-1, 0));
    }

    [Fact]
    public void Evaluate_Cause_NamesCountsAndThreshold() =>
        Assert.StartsWith("4 of 6 instances", new MassFailureBrake(new MassFailureBrakeOptions()).Evaluate(6, 4).Cause, StringComparison.Ordinal);

    [Theory]
    [InlineData(0.0, 3, "threshold")]
    [InlineData(1.0, 3, "threshold")]
    [InlineData(double.NaN, 3, "threshold")]
    [InlineData(0.5, 0, "minInstances")]
    public void Validate_BadField_Named(double threshold, int minInstances, string field) =>
        Assert.Equal([field], new MassFailureBrakeOptions { Threshold = threshold, MinInstances = minInstances }.Validate().Select(e => e.Field));

    [Fact]
    public void Validate_Defaults_Valid() => Assert.Empty(new MassFailureBrakeOptions().Validate());

    [Fact]
    public void ServiceTick_PartitionSilencesMostInstances_HeldSuspectAndNotRemoved()
    {
        // The server's tick, in miniature: count raw critical verdicts, ask the brake, then evaluate each instance.
        var options = new DetectorOptions { RemoveAfter = TimeSpan.FromSeconds(5) };
        var instances = Enumerable.Range(0, 5).Select(_ => new InstanceHealth(options, Start)).ToList();
        var brake = new MassFailureBrake(new MassFailureBrakeOptions());
        var changes = new List<BrakeChange>();

        for (var t = TimeSpan.Zero; t <= TimeSpan.FromSeconds(30); t += options.EvaluationInterval)
        {
            var now = Start + t;
            instances[0].RecordHeartbeat(now); // only one of five still reaches us until 20 s
            if (t >= TimeSpan.FromSeconds(20))
            {
                instances.ForEach(i => i.RecordHeartbeat(now)); // partition heals
            }

            var decision = brake.Evaluate(instances.Count, instances.Count(i => i.Judge(now).Status == HealthStatus.Critical));
            changes.Add(decision.Change);
            instances.ForEach(i => i.Evaluate(now, decision.WithholdCritical));
            Assert.DoesNotContain(instances, i => i.Status == HealthStatus.Critical);
            Assert.False(!decision.SuspendRemoval && instances.Any(i => i.ShouldRemove(now)));
        }

        Assert.Equal([BrakeChange.Engaged, BrakeChange.Released], changes.Where(c => c != BrakeChange.None));
        Assert.All(instances, i => Assert.Equal(HealthStatus.Passing, i.Status));
    }
}
