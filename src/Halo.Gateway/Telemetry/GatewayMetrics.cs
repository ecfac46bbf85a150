using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Halo.Gateway.Telemetry;

/// <summary>
/// The gateway's instruments (meter "Halo.Gateway"), created through <see cref="IMeterFactory"/> so
/// tests can observe them with MetricCollector. Exported at /metrics by the Prometheus exporter.
/// </summary>
public sealed class GatewayMetrics
{
    /// <summary>Meter name to subscribe exporters to.</summary>
    public const string MeterName = "Halo.Gateway";

    private static readonly string[] StatusClasses = ["0xx", "1xx", "2xx", "3xx", "4xx", "5xx"];
    private readonly Counter<long> _requests;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _retries;
    private readonly Counter<long> _budgetExhausted;
    private readonly Counter<long> _ejections;
    private readonly Counter<long> _spill;
    private readonly Counter<long> _feedRejected;
    private long _revision;
    private int _feedConnected;
    private int _feedStale;

    /// <summary>Creates the instruments.</summary>
    public GatewayMetrics(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        var meter = meterFactory.Create(MeterName);
        _requests = meter.CreateCounter<long>("halo.gateway.requests", "{request}", "Client requests by cluster, final destination and status class.");
        _duration = meter.CreateHistogram("halo.gateway.request.duration", "s", "Client-observed request duration including retries.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] });
        _retries = meter.CreateCounter<long>("halo.gateway.retries", "{retry}", "Retries on another destination, by cluster and reason.");
        _budgetExhausted = meter.CreateCounter<long>("halo.gateway.retry_budget.exhausted", "{request}", "Retries refused because the retry budget was spent.");
        _ejections = meter.CreateCounter<long>("halo.gateway.ejections", "{ejection}", "Destinations ejected by passive outlier detection.");
        _spill = meter.CreateCounter<long>("halo.gateway.pool.spill", "{request}", "Requests served by a backup pool.");
        _feedRejected = meter.CreateCounter<long>("halo.gateway.feed.rejected", "{update}", "Change-feed updates rejected as invalid.");
        meter.CreateObservableGauge("halo.gateway.routing_table.revision", () => Interlocked.Read(ref _revision), "{revision}", "Registry revision of the routing table in use.");
        meter.CreateObservableGauge("halo.gateway.feed.connected", () => Volatile.Read(ref _feedConnected), "{bool}", "1 while the change feed is connected.");
        meter.CreateObservableGauge("halo.gateway.feed.stale", () => Volatile.Read(ref _feedStale), "{bool}", "1 while serving from the last known table because the server is unreachable.");
    }

    /// <summary>Records the routing table revision now in use.</summary>
    public void SetRevision(long revision) => Interlocked.Exchange(ref _revision, revision);

    /// <summary>Records the change feed state.</summary>
    public void SetFeedState(bool connected, bool stale)
    {
        Volatile.Write(ref _feedConnected, connected ? 1 : 0);
        Volatile.Write(ref _feedStale, stale ? 1 : 0);
    }

    /// <summary>Records a finished client request.</summary>
    public void RequestCompleted(string cluster, string? destination, int status, double seconds)
    {
        if (_requests.Enabled)
        {
            var tags = new TagList
            {
                { "cluster", cluster },
                { "destination", destination ?? "none" },
                { "status_class", StatusClasses[Math.Clamp(status / 100, 0, 5)] },
            };
            _requests.Add(1, tags);
        }

        if (_duration.Enabled)
        {
            _duration.Record(seconds, new KeyValuePair<string, object?>("cluster", cluster));
        }
    }

    /// <summary>Records a retry.</summary>
    public void Retried(string cluster, string reason) =>
        _retries.Add(1, new KeyValuePair<string, object?>("cluster", cluster), new KeyValuePair<string, object?>("reason", reason));

    /// <summary>Records a retry refused by the budget.</summary>
    public void BudgetExhausted(string cluster) => _budgetExhausted.Add(1, new KeyValuePair<string, object?>("cluster", cluster));

    /// <summary>Records an ejection.</summary>
    public void Ejected(string cluster, string destination) =>
        _ejections.Add(1, new KeyValuePair<string, object?>("cluster", cluster), new KeyValuePair<string, object?>("destination", destination));

    /// <summary>Records a request placed in a backup pool.</summary>
    public void Spilled(string cluster, int pool) =>
        _spill.Add(1, new KeyValuePair<string, object?>("cluster", cluster), new KeyValuePair<string, object?>("pool", pool));

    /// <summary>Records a rejected feed update.</summary>
    public void FeedRejected() => _feedRejected.Add(1);
}
