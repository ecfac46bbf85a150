using System.Diagnostics.Metrics;
using Halo.Core.Detection;

namespace Halo.Server.Telemetry;

/// <summary>Registry and detector instruments (meter "Halo.Server"), created through IMeterFactory.</summary>
public sealed class RegistryMetrics
{
    public const string MeterName = "Halo.Server";

    private readonly Counter<long> _heartbeats;
    private readonly Counter<long> _registrations;
    private readonly Counter<long> _deregistrations;
    private readonly Counter<long> _transitions;
    private readonly Counter<long> _events;
    private readonly Histogram<double> _evaluation;
    private Func<IEnumerable<Measurement<long>>> _instances = () => [];
    private Func<IEnumerable<Measurement<int>>> _brakes = () => [];

    public RegistryMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _heartbeats = meter.CreateCounter<long>("halo.registry.heartbeats", "{heartbeat}", "Heartbeats accepted");
        _registrations = meter.CreateCounter<long>("halo.registry.registrations", "{registration}", "Registrations and updates acknowledged");
        _deregistrations = meter.CreateCounter<long>("halo.registry.deregistrations", "{deregistration}", "Instances deregistered or removed");
        _transitions = meter.CreateCounter<long>("halo.detector.transitions", "{transition}", "Published health transitions");
        _events = meter.CreateCounter<long>("halo.events.recorded", "{event}", "Events written to the history");
        _evaluation = meter.CreateHistogram<double>("halo.detector.evaluation.duration", "s", "Time to evaluate every instance once",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1] });
        meter.CreateObservableGauge("halo.registry.instances", () => _instances(), "{instance}", "Registered instances by service and health");
        meter.CreateObservableGauge("halo.registry.brake.engaged", () => _brakes(), null, "1 while the mass-failure brake holds a service");
    }

    public void Observe(Func<IEnumerable<Measurement<long>>> instances, Func<IEnumerable<Measurement<int>>> brakes)
    {
        _instances = instances;
        _brakes = brakes;
    }

    public void Heartbeat(int count = 1)
    {
        if (_heartbeats.Enabled)
        {
            _heartbeats.Add(count);
        }
    }

    public void Registered(string service) => _registrations.Add(1, new KeyValuePair<string, object?>("service", service));

    public void Deregistered(string service) => _deregistrations.Add(1, new KeyValuePair<string, object?>("service", service));

    public void Transition(string service, HealthStatus from, HealthStatus to) => _transitions.Add(1,
        new KeyValuePair<string, object?>("service", service),
        new KeyValuePair<string, object?>("from", Lower(from)),
        new KeyValuePair<string, object?>("to", Lower(to)));

    public void Event(string type) => _events.Add(1, new KeyValuePair<string, object?>("type", type));

    public void Evaluated(TimeSpan elapsed) => _evaluation.Record(elapsed.TotalSeconds);

    public static string Lower(HealthStatus status) => status switch
    {
        HealthStatus.Passing => "passing",
        HealthStatus.Suspect => "suspect",
        _ => "critical",
    };
}
