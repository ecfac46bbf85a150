using System.Text.Json;
using Halo.Server.Alerts;
using System.Diagnostics.Metrics;
using Halo.Server.Registry;
using Halo.Server.Telemetry;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Halo.Server.Tests.Monitoring;

/// <summary>Webhook delivery end to end: a real server on a fake clock, a real HTTP receiver, a real health transition.</summary>
public sealed class AlertWebhookTests
{
    private static readonly TimeSpan Real = TimeSpan.FromSeconds(20);

    private static async Task<ServerFixture> StartAsync(WebhookReceiver receiver, int maxAttempts = 5) => await ServerFixture.StartAsync(new ServerOptions
    {
        // A long timeout: the fake clock must not time out a request that is merely in flight in real time.
        Alerts = new AlertOptions { Webhooks = [receiver.Url], MaxAttempts = maxAttempts, InitialBackoff = TimeSpan.FromSeconds(2), Timeout = TimeSpan.FromMinutes(1) },
    });

    /// <summary>Advances the fake clock in detector steps until the instance is published critical (bounded).</summary>
    private static async Task DriveUntilCriticalAsync(ServerFixture server, string service, string id)
    {
        var registry = server.App.Services.GetRequiredService<InstanceRegistry>();
        for (var i = 0; i < 600; i++)
        {
            await server.AdvanceAsync(TimeSpan.FromMilliseconds(100));
            if (registry.TryGet(service, id, out var entry) && entry.Record.Health == Core.Detection.HealthStatus.Critical)
            {
                return;
            }
        }

        throw new TimeoutException($"{service}/{id} never went critical");
    }

    [Fact]
    public async Task InstanceGoesCritical_ReceiverFailsFirst_RetriedAndDeliveredExactlyOnce()
    {
        await using var receiver = await WebhookReceiver.StartAsync(503);
        await using var server = await StartAsync(receiver);
        using var deliveries = new MetricCollector<long>(server.App.Services.GetRequiredService<IMeterFactory>(), MonitoringMetrics.MeterName, "halo.alerts.deliveries");
        using var attempts = new MetricCollector<long>(server.App.Services.GetRequiredService<IMeterFactory>(), MonitoringMetrics.MeterName, "halo.alerts.attempts");
        (await server.RegisterAsync("web", "web-1", new { address = "127.0.0.1", port = 8080, ttl = "1s" })).Dispose();
        (await server.RegisterAsync("web", "web-2", new { address = "127.0.0.1", port = 8081, ttl = "1s" })).Dispose();

        // web-2 keeps heartbeating while web-1 falls silent: exactly one transition to critical.
        var registry = server.App.Services.GetRequiredService<InstanceRegistry>();
        for (var i = 0; i < 600; i++)
        {
            registry.Heartbeat("web", "web-2");
            await server.AdvanceAsync(TimeSpan.FromMilliseconds(100));
            if (registry.TryGet("web", "web-1", out var e) && e.Record.Health == Core.Detection.HealthStatus.Critical)
            {
                break;
            }
        }

        await receiver.WaitForAsync(1, Real);
        Assert.Equal(503, receiver.Requests.First().Status);

        // The retry waits on the injected clock: nothing more arrives while it stands still...
        await Task.Delay(300);
        Assert.Single(receiver.Requests);

        // ...and it arrives once the clock moves past the back-off. Small steps, because the sender may not have
        // started its back-off timer yet when the first 503 reaches the receiver. 100 steps 50 ms apart (5 s) were
        // enough only by luck: a sender held up longer on a loaded machine starts its timer after the last step, and the
        // retry then waits for a clock nobody moves. So the steps are spread over the real-time bound; their number stays
        // at 100, so the clock moves at most 50 s, under the 1 min request timeout. web-2 keeps heartbeating meanwhile, or
        // the moving clock calls it down (it went suspect here in every run) and its alert is a request not expected here.
        for (var i = 0; i < 100 && receiver.Requests.Count < 2; i++)
        {
            registry.Heartbeat("web", "web-2");
            server.Time.Advance(TimeSpan.FromMilliseconds(500));
            await Task.Delay(Real / 100);
        }

        await receiver.WaitForAsync(2, Real);

        // More time and more detector passes: no third request, no second notification.
        for (var i = 0; i < 50; i++)
        {
            registry.Heartbeat("web", "web-2");
            await server.AdvanceAsync(TimeSpan.FromMilliseconds(200));
        }

        await Task.Delay(500);
        var requests = receiver.Requests.ToList();
        Assert.Equal([503, 200], requests.Select(r => r.Status));
        Assert.Equal(requests[0].Body.ToString(), requests[1].Body.ToString());

        var payload = requests[1].Body;
        Assert.Equal("4", payload.GetProperty("version").GetString());
        Assert.Equal("firing", payload.GetProperty("status").GetString());
        Assert.Equal("halo", payload.GetProperty("receiver").GetString());
        Assert.StartsWith("http://127.0.0.1:", payload.GetProperty("externalURL").GetString(), StringComparison.Ordinal);
        var alert = Assert.Single(payload.GetProperty("alerts").EnumerateArray().ToList());
        Assert.Equal("HaloInstanceDown", alert.GetProperty("labels").GetProperty("alertname").GetString());
        Assert.Equal("web", alert.GetProperty("labels").GetProperty("service").GetString());
        Assert.Equal("web-1", alert.GetProperty("labels").GetProperty("instance").GetString());
        Assert.Contains("missed", alert.GetProperty("annotations").GetProperty("description").GetString(), StringComparison.Ordinal);
        Assert.Equal(16, alert.GetProperty("fingerprint").GetString()!.Length);

        // The delivery is part of the history, with its attempts.
        var history = await WaitForAlertEventsAsync(server, 1);
        var record = Assert.Single(history);
        Assert.Equal("delivered", record.GetProperty("to").GetString());
        Assert.Equal("web-1", record.GetProperty("instance").GetString());
        Assert.Equal(2, record.GetProperty("evidence").GetProperty("attempts").GetInt32());
        Assert.Equal("HaloInstanceDown", record.GetProperty("evidence").GetProperty("alertname").GetString());

        // And in the metrics: one delivery, two attempts.
        var delivery = Assert.Single(deliveries.GetMeasurementSnapshot());
        Assert.Equal(1, delivery.Value);
        Assert.Equal("delivered", delivery.Tags["outcome"]);
        Assert.Equal(2, attempts.GetMeasurementSnapshot().Sum(m => m.Value));
    }

    [Fact]
    public async Task InstanceRecovers_AfterFiring_ResolvedDelivered()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var server = await StartAsync(receiver);
        (await server.RegisterAsync("web", "web-1", new { address = "127.0.0.1", port = 8080, ttl = "1s" })).Dispose();
        await DriveUntilCriticalAsync(server, "web", "web-1");
        await receiver.WaitForAsync(1, Real);

        var registry = server.App.Services.GetRequiredService<InstanceRegistry>();
        for (var i = 0; i < 100 && !(registry.TryGet("web", "web-1", out var e) && e.Record.Health == Core.Detection.HealthStatus.Passing); i++)
        {
            registry.Heartbeat("web", "web-1");
            await server.AdvanceAsync(TimeSpan.FromMilliseconds(250));
        }

        await receiver.WaitForAsync(2, Real);
        var statuses = receiver.Requests.Select(r => r.Body.GetProperty("status").GetString()).ToList();
        Assert.Equal(["firing", "resolved"], statuses);
        var fingerprints = receiver.Requests.Select(r => r.Body.GetProperty("alerts")[0].GetProperty("fingerprint").GetString()).Distinct();
        Assert.Single(fingerprints);
    }

    [Fact]
    public async Task ReceiverRejects_PermanentError_GivesUpAfterOneAttemptAndRecordsFailure()
    {
        await using var receiver = await WebhookReceiver.StartAsync(400, 400, 400);
        await using var server = await StartAsync(receiver);
        (await server.RegisterAsync("web", "web-1", new { address = "127.0.0.1", port = 8080, ttl = "1s" })).Dispose();
        await DriveUntilCriticalAsync(server, "web", "web-1");

        var history = await WaitForAlertEventsAsync(server, 1);

        var record = Assert.Single(history);
        Assert.Equal("failed", record.GetProperty("to").GetString());
        Assert.Equal(1, record.GetProperty("evidence").GetProperty("attempts").GetInt32());
        Assert.Equal("HTTP 400", record.GetProperty("evidence").GetProperty("lastError").GetString());
        Assert.Single(receiver.Requests);
    }

    private static async Task<List<JsonElement>> WaitForAlertEventsAsync(ServerFixture server, int count)
    {
        using var cts = new CancellationTokenSource(Real);
        while (true)
        {
            var events = (await server.GetJsonAsync("/v1/events?type=alert")).GetProperty("events").EnumerateArray().ToList();
            if (events.Count >= count)
            {
                return events;
            }

            await Task.Delay(50, cts.Token);
        }
    }
}
