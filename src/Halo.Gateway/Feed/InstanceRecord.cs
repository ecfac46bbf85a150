using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using Halo.Gateway.Routing;

namespace Halo.Gateway.Feed;

/// <summary>An instance as the control plane's catalog and watch feed describe it (docs/api.md).</summary>
public sealed record InstanceRecord
{
    /// <summary>Service name.</summary>
    public string Service { get; init; } = "";

    /// <summary>Instance id.</summary>
    public string Id { get; init; } = "";

    /// <summary>IP address or host name.</summary>
    public string Address { get; init; } = "";

    /// <summary>TCP port.</summary>
    public int Port { get; init; }

    /// <summary>Weight; the registry default is 100.</summary>
    public int Weight { get; init; } = 100;

    /// <summary>Zone, optional.</summary>
    public string? Zone { get; init; }

    /// <summary>passing, suspect or critical.</summary>
    public string Health { get; init; } = "passing";

    /// <summary>Draining flag.</summary>
    public bool Draining { get; init; }

    /// <summary>Revision of the last change to this instance.</summary>
    public long Revision { get; init; }

    /// <summary>Parsed health.</summary>
    [JsonIgnore]
    public RegistryHealth HealthState => Health switch
    {
        "critical" => RegistryHealth.Critical,
        "suspect" => RegistryHealth.Suspect,
        _ => RegistryHealth.Passing,
    };

    /// <summary>JSON options matching the API (camelCase).</summary>
    internal static JsonSerializerOptions Json { get; } = new(JsonSerializerDefaults.Web);

    /// <summary>
    /// Checks that an instance can be routed to; a feed update that fails is rejected whole and the
    /// last good table stays (a bad record must never take routing down).
    /// </summary>
    public string? Problem()
    {
        if (string.IsNullOrWhiteSpace(Service))
        {
            return "service is missing";
        }

        if (string.IsNullOrWhiteSpace(Id))
        {
            return $"instance of {Service}: id is missing";
        }

        if (Port is < 1 or > 65535)
        {
            return $"{Service}/{Id}: port {Port} is out of range";
        }

        if (string.IsNullOrWhiteSpace(Address) || (!IPAddress.TryParse(Address, out _) && Uri.CheckHostName(Address) != UriHostNameType.Dns))
        {
            return $"{Service}/{Id}: address '{Address}' is not an IP address or host name";
        }

        if (Weight is < 0 or > 1_000_000)
        {
            return $"{Service}/{Id}: weight {Weight} is out of range";
        }

        if (Health is not ("passing" or "suspect" or "critical"))
        {
            return $"{Service}/{Id}: health '{Health}' is not passing, suspect or critical";
        }

        return null;
    }
}
