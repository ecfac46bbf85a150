using System.Diagnostics.Metrics;

namespace Halo.Server.Telemetry;

/// <summary>Instruments of alert delivery and store reachability (meter "Halo.Server.Monitoring"), created through IMeterFactory.</summary>
public sealed class MonitoringMetrics
{
    public const string MeterName = "Halo.Server.Monitoring";

    private readonly Counter<long> _deliveries;
    private readonly Counter<long> _attempts;
    private readonly Counter<long> _suppressed;
    private int _storeAvailable = 1;

    public MonitoringMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _deliveries = meter.CreateCounter<long>("halo.alerts.deliveries", "{delivery}", "Webhook alert deliveries by alert name and outcome (delivered, failed)");
        _attempts = meter.CreateCounter<long>("halo.alerts.attempts", "{attempt}", "HTTP attempts made for webhook deliveries, retries included");
        _suppressed = meter.CreateCounter<long>("halo.alerts.suppressed", "{notification}", "Notifications suppressed as duplicates");
        meter.CreateObservableGauge("halo.store.available", () => Volatile.Read(ref _storeAvailable), null,
            "1 while the store answered the last probe within its timeout, else 0");
    }

    public void AlertDelivery(string alert, bool delivered, int attempts)
    {
        _deliveries.Add(1, new KeyValuePair<string, object?>("alertname", alert), new KeyValuePair<string, object?>("outcome", delivered ? "delivered" : "failed"));
        _attempts.Add(attempts, new KeyValuePair<string, object?>("alertname", alert));
    }

    public void AlertSuppressed(string alert) => _suppressed.Add(1, new KeyValuePair<string, object?>("alertname", alert));

    public void StoreAvailable(bool available) => Volatile.Write(ref _storeAvailable, available ? 1 : 0);
}
