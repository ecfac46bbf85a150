using System.Globalization;
using System.Text.Json;

namespace Halo.Gateway.Feed;

/// <summary>
/// Reads GET /v1/catalog. Accepts {"revision": n, "instances": [...]}, {"revision": n, "services":
/// [{"name"/"service": s, "instances": [...]}] or {s: [...]}}, or a bare array (revision from X-Halo-Index).
/// </summary>
internal static class CatalogParser
{
    public static (List<InstanceRecord> Instances, long Revision) Parse(string json, string? indexHeader)
    {
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        var instances = new List<InstanceRecord>();
        long revision = long.TryParse(indexHeader, NumberStyles.Integer, CultureInfo.InvariantCulture, out var h) ? h : 0;
        if (root.ValueKind == JsonValueKind.Array)
        {
            AddAll(root, null, instances);
            return (instances, revision);
        }

        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidDataException("catalog is neither an object nor an array");
        }

        if (root.TryGetProperty("revision", out var rev) && rev.TryGetInt64(out var r))
        {
            revision = r;
        }

        if (root.TryGetProperty("instances", out var list) && list.ValueKind == JsonValueKind.Array)
        {
            AddAll(list, null, instances);
        }

        if (root.TryGetProperty("services", out var services))
        {
            if (services.ValueKind == JsonValueKind.Array)
            {
                foreach (var s in services.EnumerateArray())
                {
                    var name = s.TryGetProperty("name", out var n) ? n.GetString() : s.TryGetProperty("service", out var n2) ? n2.GetString() : null;
                    if (s.TryGetProperty("instances", out var si) && si.ValueKind == JsonValueKind.Array)
                    {
                        AddAll(si, name, instances);
                    }
                }
            }
            else if (services.ValueKind == JsonValueKind.Object)
            {
                foreach (var p in services.EnumerateObject())
                {
                    var arr = p.Value.ValueKind == JsonValueKind.Array ? p.Value
                        : p.Value.TryGetProperty("instances", out var pi) ? pi : default;
                    if (arr.ValueKind == JsonValueKind.Array)
                    {
                        AddAll(arr, p.Name, instances);
                    }
                }
            }
        }

        return (instances, revision);
    }

    private static void AddAll(JsonElement array, string? service, List<InstanceRecord> into)
    {
        foreach (var e in array.EnumerateArray())
        {
            var i = e.Deserialize<InstanceRecord>(InstanceRecord.Json);
            if (i is not null)
            {
                into.Add(service is not null && string.IsNullOrEmpty(i.Service) ? i with { Service = service } : i);
            }
        }
    }
}
