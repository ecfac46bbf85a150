using Halo.Core.Detection;
using Halo.Core.Registry;

namespace Halo.Server.Registry;

/// <summary>Turns a registration request into a record, or into the list of fields that are wrong. Nothing is stored on error.</summary>
internal static class RegistrationValidator
{
    private static readonly TimeSpan MinTtl = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan MaxTtl = TimeSpan.FromHours(1);

    public static Dictionary<string, string[]> Validate(
        string service, string id, RegistrationRequest request, DetectorOptions baseline,
        out InstanceRecord? record, out DetectorOptions detector)
    {
        var errors = new Dictionary<string, string[]>();
        void Fail(string field, string message) => errors[field] = [message];

        if (!Names.IsValid(service)) Fail("service", $"invalid service name: {Names.Rule}");
        if (!Names.IsValid(id)) Fail("id", $"invalid instance id: {Names.Rule}");

        var address = request.Address?.Trim();
        if (string.IsNullOrEmpty(address)) Fail("address", "required: a host name or IP address");
        else if (address.Length > 253 || Uri.CheckHostName(address) == UriHostNameType.Unknown) Fail("address", "not a valid host name or IP address");

        if (request.Port is null) Fail("port", "required");
        else if (request.Port is < 1 or > 65535) Fail("port", "must be between 1 and 65535");

        if (request.Weight is < 0 or > 10_000) Fail("weight", "must be between 0 and 10000");
        if (request.Zone is not null && !Names.IsValid(request.Zone)) Fail("zone", $"invalid zone: {Names.Rule}");

        if (request.Tags is { } tags)
        {
            if (tags.Count > 32) Fail("tags", "at most 32 tags");
            else if (tags.Any(t => string.IsNullOrWhiteSpace(t) || t.Length > 64)) Fail("tags", "each tag must be 1-64 characters");
        }

        if (request.Metadata is { } metadata)
        {
            if (metadata.Count > 64) Fail("metadata", "at most 64 entries");
            else if (metadata.Any(kv => kv.Key.Length is 0 or > 128 || kv.Value is null || kv.Value.Length > 1024))
                Fail("metadata", "keys must be 1-128 characters and values at most 1024");
        }

        var ttl = request.Ttl ?? baseline.HeartbeatInterval;
        if (ttl < MinTtl || ttl > MaxTtl) Fail("ttl", "must be between 50ms and 1h");

        HealthCheckSpec? check = null;
        if (request.Check is { } c)
        {
            check = new HealthCheckSpec
            {
                Type = c.Type ?? CheckType.Http,
                Path = c.Path ?? "/healthz",
                Interval = c.Interval ?? TimeSpan.FromSeconds(5),
                Timeout = c.Timeout ?? TimeSpan.FromSeconds(1),
            };
            if (!check.Path.StartsWith('/') || check.Path.Length > 512) Fail("check.path", "must start with '/' and be at most 512 characters");
            if (check.Interval < TimeSpan.FromMilliseconds(100) || check.Interval > MaxTtl) Fail("check.interval", "must be between 100ms and 1h");
            if (check.Timeout <= TimeSpan.Zero || check.Timeout >= check.Interval) Fail("check.timeout", "must be positive and shorter than check.interval");
        }

        detector = (request.Detector ?? new DetectorRequest()).ApplyTo(baseline, ttl);
        foreach (var (field, message) in DetectorOptionsValidator.Validate(detector))
        {
            errors[field == "heartbeatInterval" ? "ttl" : "detector." + field] = [message];
        }

        record = errors.Count > 0 ? null : new InstanceRecord
        {
            Service = service,
            Id = id,
            Address = address!,
            Port = request.Port!.Value,
            Weight = request.Weight ?? 100,
            Zone = request.Zone,
            Tags = request.Tags ?? [],
            Metadata = request.Metadata ?? new Dictionary<string, string>(),
            Ttl = ttl,
            Check = check,
            Detector = request.Detector is null ? null : detector,
        };
        return errors;
    }
}
