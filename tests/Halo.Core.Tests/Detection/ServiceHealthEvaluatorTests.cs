using Halo.Core.Detection;
using static Halo.Core.Tests.Detection.DetectionSimulation;

namespace Halo.Core.Tests.Detection;

public class ServiceHealthEvaluatorTests
{
    private static readonly DetectorOptions Options = new() { RemoveAfter = TimeSpan.FromSeconds(5) };

    [Fact]
    public void Evaluate_OneOfFiveSilent_GoesCriticalAndIsRemoved()
    {
        var instances = Enumerable.Range(1, 5).ToDictionary(i => $"web-{i}", _ => new InstanceHealth(Options, Start));
        var brake = new MassFailureBrake(new MassFailureBrakeOptions());
        var transitions = new List<(string, HealthStatus)>();
        var removed = new List<string>();

        for (var t = TimeSpan.Zero; t <= TimeSpan.FromSeconds(10); t += Options.EvaluationInterval)
        {
            foreach (var (id, health) in instances.Where(p => p.Key != "web-3"))
            {
                health.RecordHeartbeat(Start + t);
            }

            var result = ServiceHealthEvaluator.Evaluate(instances, brake, Start + t);
            Assert.False(result.Brake.IsEngaged);
            transitions.AddRange(result.Transitions.Select(p => (p.Key, p.Value.To)));
            removed.AddRange(result.ToRemove);
        }

        Assert.Equal([("web-3", HealthStatus.Suspect), ("web-3", HealthStatus.Critical)], transitions);
        Assert.Equal("web-3", removed[0]);
        Assert.Equal(Start.AddSeconds(3.25), instances["web-3"].CriticalSince);
    }

    [Fact]
    public void Evaluate_AllSilent_BrakeHoldsEveryoneSuspectAndRemovesNone()
    {
        var instances = Enumerable.Range(1, 4).ToDictionary(i => i, _ => new InstanceHealth(Options, Start));
        var brake = new MassFailureBrake(new MassFailureBrakeOptions());
        var engagedEvents = 0;

        for (var t = TimeSpan.Zero; t <= TimeSpan.FromSeconds(20); t += Options.EvaluationInterval)
        {
            var result = ServiceHealthEvaluator.Evaluate(instances, brake, Start + t);
            engagedEvents += result.Brake.Change == BrakeChange.Engaged ? 1 : 0;
            Assert.Empty(result.ToRemove);
        }

        Assert.Equal(1, engagedEvents);
        Assert.All(instances.Values, i => Assert.Equal(HealthStatus.Suspect, i.Status));
    }
}
