using Halo.Core.Detection;
using static Halo.Core.Tests.Detection.DetectionSimulation;

namespace Halo.Core.Tests.Detection;

public class ServiceHealthEvaluatorTests
{
    private static readonly DetectorOptions Options = new() { RemoveAfter = TimeSpan.FromSeconds(5) };

    /// <summary>A service as the server holds it: published statuses updated from the decisions, as publishing would.</summary>
    private sealed class Service<TKey>(IEnumerable<TKey> keys)
        where TKey : notnull
    {
        public Dictionary<TKey, InstanceHealth> Health { get; } = keys.ToDictionary(k => k, _ => new InstanceHealth(Options, Start));
        public Dictionary<TKey, HealthStatus> Published { get; } = keys.ToDictionary(k => k, _ => HealthStatus.Passing);
        public Dictionary<TKey, CallerVerdict> Callers { get; } = [];
        public HashSet<TKey> Held { get; } = [];

        public ServiceEvaluation<TKey> Tick(MassFailureBrake brake, DateTimeOffset now)
        {
            var observations = Health.Select(p => new InstanceObservation<TKey>(
                p.Key, p.Value, Published[p.Key], Due: true, Callers.GetValueOrDefault(p.Key, CallerVerdict.None), Held.Contains(p.Key))).ToList();
            var result = ServiceHealthEvaluator.Evaluate(observations, brake, now);
            foreach (var d in result.Decisions)
            {
                Published[d.Key] = d.Desired;
                if (d.HeldByCallers) Held.Add(d.Key); else Held.Remove(d.Key);
            }

            return result;
        }
    }

    [Fact]
    public void Evaluate_OneOfFiveSilent_GoesCriticalAndIsRemoved()
    {
        var service = new Service<string>(Enumerable.Range(1, 5).Select(i => $"web-{i}"));
        var brake = new MassFailureBrake(new MassFailureBrakeOptions());
        var transitions = new List<(string, HealthStatus)>();
        var removed = new List<string>();

        for (var t = TimeSpan.Zero; t <= TimeSpan.FromSeconds(10); t += Options.EvaluationInterval)
        {
            foreach (var (id, health) in service.Health.Where(p => p.Key != "web-3"))
            {
                health.RecordHeartbeat(Start + t);
            }

            var result = service.Tick(brake, Start + t);
            Assert.False(result.Brake.IsEngaged);
            transitions.AddRange(result.Decisions.Where(d => d.Transition is not null).Select(d => (d.Key, d.Transition!.To)));
            removed.AddRange(result.Decisions.Where(d => d.Remove).Select(d => d.Key));
        }

        Assert.Equal([("web-3", HealthStatus.Suspect), ("web-3", HealthStatus.Critical)], transitions);
        Assert.Equal("web-3", removed[0]);
        Assert.Equal(Start.AddSeconds(3.25), service.Health["web-3"].CriticalSince);
    }

    [Fact]
    public void Evaluate_AllSilent_BrakeHoldsEveryoneSuspectAndRemovesNone()
    {
        var service = new Service<int>(Enumerable.Range(1, 4));
        var brake = new MassFailureBrake(new MassFailureBrakeOptions());
        var engagedEvents = 0;

        for (var t = TimeSpan.Zero; t <= TimeSpan.FromSeconds(20); t += Options.EvaluationInterval)
        {
            var result = service.Tick(brake, Start + t);
            engagedEvents += result.Brake.Change == BrakeChange.Engaged ? 1 : 0;
            Assert.DoesNotContain(result.Decisions, d => d.Remove);
        }

        Assert.Equal(1, engagedEvents);
        Assert.All(service.Health.Values, i => Assert.Equal(HealthStatus.Suspect, i.Status));
    }

    [Fact]
    public void Evaluate_CallersReportFailuresThenStop_HeldCriticalThenReleasedWithCause()
    {
        var service = new Service<string>(["web-1", "web-2", "web-3"]);
        var brake = new MassFailureBrake(new MassFailureBrakeOptions());
        service.Callers["web-1"] = new CallerVerdict(true, 100, 99, ["gw"]);
        foreach (var health in service.Health.Values)
        {
            health.RecordHeartbeat(Start);
        }

        var failing = service.Tick(brake, Start);
        var held = Assert.Single(failing.Decisions);
        Assert.Equal((HealthStatus.Critical, true), (held.Desired, held.HeldByCallers));
        Assert.Contains("99 of 100", held.Cause, StringComparison.Ordinal);

        service.Callers.Remove("web-1");
        var released = Assert.Single(service.Tick(brake, Start.AddMilliseconds(250)).Decisions);
        Assert.Equal((HealthStatus.Passing, false), (released.Desired, released.HeldByCallers));
        Assert.Equal("caller reports no longer show failures; detector says passing", released.Cause);
    }
}
