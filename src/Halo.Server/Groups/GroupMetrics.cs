using System.Diagnostics.Metrics;

namespace Halo.Server.Groups;

/// <summary>Failover instruments (meter "Halo.Failover"), created through IMeterFactory.</summary>
public sealed class GroupMetrics
{
    public const string MeterName = "Halo.Failover";

    private readonly Histogram<double> _duration;
    private readonly Counter<long> _failovers;
    private Func<IEnumerable<Measurement<long>>> _epochs = () => [];
    private Func<IEnumerable<Measurement<int>>> _confirmed = () => [];
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _blocked = new(StringComparer.Ordinal);

    public GroupMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _duration = meter.CreateHistogram<double>("halo.failover.duration", "s", "From detecting a failed primary to the new primary confirming promotion",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30] });
        _failovers = meter.CreateCounter<long>("halo.failover.count", "{failover}", "Leadership changes by cause");
        meter.CreateObservableGauge("halo.group.epoch", () => _epochs(), "{epoch}", "Current fencing epoch by group");
        meter.CreateObservableGauge("halo.group.primary.confirmed", () => _confirmed(), null,
            "1 while the group has a primary that confirmed its promotion in the current epoch, else 0");
        meter.CreateObservableGauge("halo.group.failover.blocked",
            () => _blocked.Select(b => new Measurement<int>(b.Value, new KeyValuePair<string, object?>("group", b.Key))), null,
            "1 while a needed failover is blocked because no member can be shown to hold every acknowledged write, else 0");
    }

    public void Blocked(string group, bool blocked) => _blocked[group] = blocked ? 1 : 0;

    public void Observe(Func<IEnumerable<Measurement<long>>> epochs, Func<IEnumerable<Measurement<int>>>? confirmed = null)
    {
        _epochs = epochs;
        _confirmed = confirmed ?? _confirmed;
    }

    public void LeaderChanged(string group, string cause) => _failovers.Add(1,
        new KeyValuePair<string, object?>("group", group), new KeyValuePair<string, object?>("cause", cause));

    public void Promoted(string group, TimeSpan duration) => _duration.Record(duration.TotalSeconds, new KeyValuePair<string, object?>("group", group));
}
