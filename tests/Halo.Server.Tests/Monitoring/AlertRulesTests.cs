using System.Text.Json;
using Halo.Core.Registry;
using Halo.Server.Alerts;
using Microsoft.Extensions.Time.Testing;

namespace Halo.Server.Tests.Monitoring;

public sealed class AlertRulesTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private const string Url = "http://127.0.0.1:7400/";

    private static RegistryEvent Health(string from, string to) => new()
    {
        Type = EventTypes.Health, Time = T0, Service = "web", Instance = "web-1", From = from, To = to, Cause = "missed 3 heartbeats", Revision = 42,
    };

    [Fact]
    public void From_HealthToCritical_FiringInstanceDown()
    {
        var alert = AlertRules.From(Health("suspect", "critical"), Url)!;

        Assert.Equal(Alert.Firing, alert.Status);
        Assert.Equal("HaloInstanceDown", alert.Name);
        Assert.Equal("web-1", alert.Labels["instance"]);
        Assert.Equal(default, alert.EndsAt);
        Assert.Equal("42", alert.Annotations["revision"]);
    }

    [Fact]
    public void From_CriticalToPassing_ResolvedWithSameFingerprint()
    {
        var firing = AlertRules.From(Health("suspect", "critical"), Url)!;
        var resolved = AlertRules.From(Health("critical", "passing"), Url)!;

        Assert.Equal(Alert.Resolved, resolved.Status);
        Assert.Equal(firing.Fingerprint, resolved.Fingerprint);
        Assert.Equal(T0, resolved.EndsAt);
    }

    [Theory]
    [InlineData("passing", "suspect")]
    [InlineData("suspect", "passing")]
    public void From_TransitionsNotInvolvingCritical_NoAlert(string from, string to) => Assert.Null(AlertRules.From(Health(from, to), Url));

    [Fact]
    public void From_RemovedWhileCritical_Resolved()
    {
        var e = new RegistryEvent { Type = EventTypes.Removed, Time = T0, Service = "web", Instance = "web-1", From = "critical" };

        Assert.Equal(Alert.Resolved, AlertRules.From(e, Url)!.Status);
    }

    [Fact]
    public void From_BrakeEngagedAndReleased_ServiceAlert()
    {
        var engaged = AlertRules.From(new RegistryEvent { Type = EventTypes.BrakeEngaged, Time = T0, Service = "web" }, Url)!;
        var released = AlertRules.From(new RegistryEvent { Type = EventTypes.BrakeReleased, Time = T0, Service = "web" }, Url)!;

        Assert.Equal("HaloMassFailureBrakeEngaged", engaged.Name);
        Assert.Equal((Alert.Firing, Alert.Resolved), (engaged.Status, released.Status));
        Assert.Equal(engaged.Fingerprint, released.Fingerprint);
    }

    [Fact]
    public void From_FailoverEvent_GroupAlert()
    {
        var alert = AlertRules.From(new RegistryEvent { Type = "failover", Time = T0, Service = "pg", From = "pg-1", To = "pg-2" }, Url)!;

        Assert.Equal("HaloFailover", alert.Name);
        Assert.Equal("pg", alert.Labels["group"]);
    }

    [Fact]
    public void From_AlertEvent_NoAlertAboutAlerts() =>
        Assert.Null(AlertRules.From(new RegistryEvent { Type = EventTypes.Alert, Time = T0, Service = "web", Instance = "web-1" }, Url));

    [Fact]
    public void Payload_Serialized_UsesAlertmanagerFieldNames()
    {
        var alert = AlertRules.From(Health("suspect", "critical"), Url)!;

        var json = JsonDocument.Parse(JsonSerializer.Serialize(AlertPayload.For(alert, "halo", Url))).RootElement;

        Assert.Equal(Url, json.GetProperty("externalURL").GetString());
        Assert.Equal("{}:{alertname=\"HaloInstanceDown\"}", json.GetProperty("groupKey").GetString());
        Assert.Equal(0, json.GetProperty("truncatedAlerts").GetInt32());
        var item = json.GetProperty("alerts")[0];
        Assert.StartsWith(Url, item.GetProperty("generatorURL").GetString(), StringComparison.Ordinal);
        Assert.Equal("web", json.GetProperty("commonLabels").GetProperty("service").GetString());
        Assert.Equal(alert.Fingerprint, item.GetProperty("fingerprint").GetString());
    }

    [Fact]
    public void ShouldSend_SameStatusWithinWindow_Suppressed()
    {
        var time = new FakeTimeProvider(T0);
        var dedup = new AlertDeduplicator(TimeSpan.FromMinutes(5), time);
        var firing = AlertRules.From(Health("suspect", "critical"), Url)!;

        Assert.True(dedup.ShouldSend(firing));
        Assert.False(dedup.ShouldSend(firing));
        time.Advance(TimeSpan.FromMinutes(5));
        Assert.True(dedup.ShouldSend(firing));
    }

    [Fact]
    public void ShouldSend_FiringResolvedFiring_AllSent()
    {
        var dedup = new AlertDeduplicator(TimeSpan.FromMinutes(5), new FakeTimeProvider(T0));

        Assert.True(dedup.ShouldSend(AlertRules.From(Health("suspect", "critical"), Url)!));
        Assert.True(dedup.ShouldSend(AlertRules.From(Health("critical", "passing"), Url)!));
        Assert.True(dedup.ShouldSend(AlertRules.From(Health("suspect", "critical"), Url)!));
    }

    [Fact]
    public void ShouldSend_DifferentInstances_Independent()
    {
        var dedup = new AlertDeduplicator(TimeSpan.FromMinutes(5), new FakeTimeProvider(T0));
        var other = Health("suspect", "critical") with { Instance = "web-2" };

        Assert.True(dedup.ShouldSend(AlertRules.From(Health("suspect", "critical"), Url)!));
        Assert.True(dedup.ShouldSend(AlertRules.From(other, Url)!));
    }
}
