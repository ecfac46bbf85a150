using System.Globalization;
using System.Text.Json;
using Halo.Core.Registry;
using Halo.Core.Serialization;

namespace Halo.Server.Alerts;

/// <summary>
/// Which events raise or resolve which alerts. Names match the Prometheus rules in deploy/prometheus so an
/// operator sees the same alert whichever path delivered it.
/// </summary>
public static class AlertRules
{
    public const string InstanceDown = "HaloInstanceDown";
    public const string MassFailureBrake = "HaloMassFailureBrakeEngaged";
    public const string Failover = "HaloFailover";
    public const string FailoverBlocked = "HaloFailoverBlocked";
    public const string SynchronousDegraded = "HaloSynchronousDegraded";

    /// <summary>The alert <paramref name="e"/> raises or resolves, or null when it is not alert-worthy.</summary>
    public static Alert? From(RegistryEvent e, string externalUrl)
    {
        ArgumentNullException.ThrowIfNull(e);
        return e.Type switch
        {
            EventTypes.Health when e.To == "critical" && e.Instance is not null => Instance(e, Alert.Firing, externalUrl),
            EventTypes.Health when e.From == "critical" && e.Instance is not null => Instance(e, Alert.Resolved, externalUrl),
            // An instance removed or deregistered while critical will never recover: close its alert rather than leave it firing forever.
            EventTypes.Removed or EventTypes.Deregistered when e.From == "critical" && e.Instance is not null => Instance(e, Alert.Resolved, externalUrl),
            EventTypes.BrakeEngaged => Service(e, MassFailureBrake, Alert.Firing, externalUrl),
            EventTypes.BrakeReleased => Service(e, MassFailureBrake, Alert.Resolved, externalUrl),
            EventTypes.FailoverBlocked => Blocked(e, e.To == "blocked" ? Alert.Firing : Alert.Resolved, externalUrl),
            EventTypes.SynchronousDegraded => Degraded(e, Alert.Firing, externalUrl),
            EventTypes.SynchronousRestored => Degraded(e, Alert.Resolved, externalUrl),
            // Failover events come from the group controller; whatever its exact type names, a failover is worth a page.
            _ when e.Type.Contains("failover", StringComparison.OrdinalIgnoreCase) => Group(e, externalUrl),
            _ => null,
        };
    }

    private static Alert Instance(RegistryEvent e, string status, string externalUrl) => new()
    {
        Status = status,
        Labels = new Dictionary<string, string>
        {
            ["alertname"] = InstanceDown, ["service"] = e.Service, ["instance"] = e.Instance!, ["severity"] = "critical",
        },
        Annotations = Annotations(e, status == Alert.Firing
            ? $"{e.Service}/{e.Instance} is critical"
            : $"{e.Service}/{e.Instance} is no longer critical ({e.To ?? e.Type})"),
        StartsAt = e.Time,
        EndsAt = status == Alert.Resolved ? e.Time : default,
        GeneratorUrl = $"{externalUrl}v1/events?service={e.Service}",
    };

    private static Alert Service(RegistryEvent e, string name, string status, string externalUrl) => new()
    {
        Status = status,
        Labels = new Dictionary<string, string> { ["alertname"] = name, ["service"] = e.Service, ["severity"] = "critical" },
        Annotations = Annotations(e, status == Alert.Firing
            ? $"mass-failure brake engaged for {e.Service}: critical verdicts withheld"
            : $"mass-failure brake released for {e.Service}"),
        StartsAt = e.Time,
        EndsAt = status == Alert.Resolved ? e.Time : default,
        GeneratorUrl = $"{externalUrl}v1/events?service={e.Service}",
    };

    /// <summary>A blocked failover is a condition: it fires until the group has a primary again or the failover is no longer needed.</summary>
    private static Alert Blocked(RegistryEvent e, string status, string externalUrl) => new()
    {
        Status = status,
        Labels = new Dictionary<string, string> { ["alertname"] = FailoverBlocked, ["group"] = e.Service, ["severity"] = "critical" },
        Annotations = Annotations(e, status == Alert.Firing
            ? $"group {e.Service}: failover of {e.Instance ?? "the primary"} blocked, nobody promoted: {e.Cause}"
            : $"group {e.Service}: failover no longer blocked ({e.Cause})"),
        StartsAt = e.Time,
        EndsAt = status == Alert.Resolved ? e.Time : default,
        GeneratorUrl = $"{externalUrl}v1/events?service={e.Service}",
    };

    private static Alert Degraded(RegistryEvent e, string status, string externalUrl) => new()
    {
        Status = status,
        Labels = new Dictionary<string, string> { ["alertname"] = SynchronousDegraded, ["group"] = e.Service, ["severity"] = "critical" },
        Annotations = Annotations(e, status == Alert.Firing
            ? $"group {e.Service}: commits no longer wait for a standby (synchronous mode degraded)"
            : $"group {e.Service}: commits wait for standbys again"),
        StartsAt = e.Time,
        EndsAt = status == Alert.Resolved ? e.Time : default,
        GeneratorUrl = $"{externalUrl}v1/events?service={e.Service}",
    };

    /// <summary>A failover is an event, not a condition: it is sent as firing and carries its own end time.</summary>
    private static Alert Group(RegistryEvent e, string externalUrl) => new()
    {
        Status = Alert.Firing,
        Labels = new Dictionary<string, string> { ["alertname"] = Failover, ["group"] = e.Service, ["severity"] = "warning" },
        Annotations = Annotations(e, $"group {e.Service}: {e.Type} from {e.From ?? "?"} to {e.To ?? "?"}"),
        StartsAt = e.Time,
        EndsAt = e.Time,
        GeneratorUrl = $"{externalUrl}v1/events?service={e.Service}",
    };

    private static Dictionary<string, string> Annotations(RegistryEvent e, string summary)
    {
        var annotations = new Dictionary<string, string>
        {
            ["summary"] = summary,
            ["description"] = e.Cause ?? "",
            ["revision"] = e.Revision.ToString(CultureInfo.InvariantCulture),
        };
        if (e.Evidence is { Count: > 0 } evidence)
        {
            annotations["evidence"] = JsonSerializer.Serialize(evidence, HaloJson.Options);
        }

        return annotations;
    }
}
