using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Serialization;

namespace Halo.Server.Alerts;

/// <summary>
/// One alert notification, shaped as an entry of Alertmanager's webhook "alerts" array so receivers written
/// for Alertmanager (chat bridges, paging tools) accept Halo's deliveries unchanged.
/// </summary>
public sealed record Alert
{
    public const string Firing = "firing";
    public const string Resolved = "resolved";

    /// <summary>"firing" or "resolved".</summary>
    public required string Status { get; init; }

    /// <summary>Identity of the alert: alertname plus the labels that say what is affected.</summary>
    public required IReadOnlyDictionary<string, string> Labels { get; init; }

    public required IReadOnlyDictionary<string, string> Annotations { get; init; }

    public required DateTimeOffset StartsAt { get; init; }

    /// <summary>Zero time while firing, as Alertmanager sends it.</summary>
    public DateTimeOffset EndsAt { get; init; }

    public string GeneratorUrl { get; init; } = "";

    public string Fingerprint => FingerprintOf(Labels);

    public string Name => Labels.TryGetValue("alertname", out var n) ? n : "";

    /// <summary>Stable hash of the label set (sorted), 16 hex digits like Alertmanager's.</summary>
    public static string FingerprintOf(IReadOnlyDictionary<string, string> labels)
    {
        var text = new StringBuilder();
        foreach (var (k, v) in labels.OrderBy(l => l.Key, StringComparer.Ordinal))
        {
            text.Append(k).Append('\xff').Append(v).Append('\xff');
        }

        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())).AsSpan(0, 8));
    }
}

/// <summary>The webhook body: Alertmanager's version 4 payload carrying one alert.</summary>
/// Property names are Alertmanager's exactly (externalURL, generatorURL), not our camelCase convention.
public sealed record AlertPayload(
    [property: JsonPropertyName("version")] string Version,
    [property: JsonPropertyName("groupKey")] string GroupKey,
    [property: JsonPropertyName("truncatedAlerts")] int TruncatedAlerts,
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("receiver")] string Receiver,
    [property: JsonPropertyName("groupLabels")] IReadOnlyDictionary<string, string> GroupLabels,
    [property: JsonPropertyName("commonLabels")] IReadOnlyDictionary<string, string> CommonLabels,
    [property: JsonPropertyName("commonAnnotations")] IReadOnlyDictionary<string, string> CommonAnnotations,
    [property: JsonPropertyName("externalURL")] string ExternalUrl,
    [property: JsonPropertyName("alerts")] IReadOnlyList<AlertPayloadItem> Alerts)
{
    public static AlertPayload For(Alert alert, string receiver, string externalUrl) => new(
        "4", $"{{}}:{{alertname=\"{alert.Name}\"}}", 0, alert.Status, receiver,
        new Dictionary<string, string> { ["alertname"] = alert.Name }, alert.Labels, alert.Annotations, externalUrl,
        [new AlertPayloadItem(alert.Status, alert.Labels, alert.Annotations, alert.StartsAt, alert.EndsAt, alert.GeneratorUrl, alert.Fingerprint)]);
}

/// <summary>One entry of the payload's alerts array.</summary>
public sealed record AlertPayloadItem(
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("labels")] IReadOnlyDictionary<string, string> Labels,
    [property: JsonPropertyName("annotations")] IReadOnlyDictionary<string, string> Annotations,
    [property: JsonPropertyName("startsAt")] DateTimeOffset StartsAt,
    [property: JsonPropertyName("endsAt")] DateTimeOffset EndsAt,
    [property: JsonPropertyName("generatorURL")] string GeneratorUrl,
    [property: JsonPropertyName("fingerprint")] string Fingerprint);
