using System.Text.Json.Nodes;
using CsCheck;

namespace Halo.Server.Tests.Security;

/// <summary>
/// The fuzz tests' random inputs (CsCheck): words that have broken parsers before, JSON trees over the API's field names,
/// bodies from valid JSON to truncated or 80 KB ones. Shared by the server's <c>FuzzTests</c> and the gateway's
/// (Halo.IntegrationTests links this file).
/// </summary>
internal static class FuzzInputs
{
    public static readonly string[] Fields =
    [
        "address", "port", "ttl", "metadata", "tags", "check", "url", "interval", "timeout", "detector", "kind", "draining", "health",
        "status", "role", "offset", "lag", "epoch", "members", "policy", "mode", "target", "candidate", "name", "services", "groups",
        "member", "failures", "successes", "instances", "id", "service", "weight", "zone", "paused", "synchronous", "maxLagBytes",
        "leaseTtl", "driver", "state", "reason", "primary", "replicas", "heartbeats", "missedHeartbeats", "threshold", "window",
    ];

    public static readonly string[] Words =
    [
        "", "web", "w1", "g1", "m1", "127.0.0.1", "169.254.169.254", "::1", "http://127.0.0.1:1/health", "file:///etc/passwd", "1s", "-5s",
        "0s", "10ms", "1h", "99999h", "passing", "critical", "suspect", "kill", "stop", "read", "admin", "operate", "register", "phi",
        "fixed", "redis", "exec", "true", "null", "NaN", "<img src=x onerror=alert(1)>", "../../etc", "%00", "\u0000", "ünïcödé", "🙂",
    ];

    public static readonly Gen<string> Word = Gen.Frequency((4, Gen.OneOf(Words)), (1, Gen.String[0, 40]), (1, Gen.Int.Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))));

    public static Gen<JsonNode?> Json(int depth)
    {
        var scalar = Gen.OneOf<JsonNode?>(
            Gen.Const((JsonNode?)null),
            Gen.Bool.Select(b => (JsonNode?)JsonValue.Create(b)),
            Gen.Int.Select(i => (JsonNode?)JsonValue.Create(i)),
            Gen.Long.Select(l => (JsonNode?)JsonValue.Create(l)),
            Gen.Double[-1e6, 1e6].Select(d => (JsonNode?)JsonValue.Create(d)),
            Word.Select(s => (JsonNode?)JsonValue.Create(s)));
        if (depth == 0)
        {
            return scalar;
        }

        var inner = Json(depth - 1);
        var obj = Gen.Select(Gen.OneOf(Fields), inner).Array[0, 7].Select(pairs =>
        {
            var o = new JsonObject();
            foreach (var (key, value) in pairs)
            {
                o[key] = value?.DeepClone();
            }

            return (JsonNode?)o;
        });
        var array = inner.Array[0, 5].Select(items => (JsonNode?)new JsonArray(items.Select(i => i?.DeepClone()).ToArray()));
        return Gen.Frequency((2, scalar), (3, obj), (1, array));
    }

    public static readonly Gen<string?> Body = Gen.Frequency(
        (8, Json(3).Select(j => (string?)(j?.ToJsonString() ?? "null"))),
        (2, Gen.Const((string?)null)),
        (1, Gen.String[0, 200].Select(s => (string?)s)),
        (1, Gen.Const<string?>("{\"address\":")),
        (1, Gen.Const<string?>("[" + string.Concat(Enumerable.Repeat("1,", 40_000)) + "1]")));

    /// <summary>Percent-encodes a value for a path or query; a string .NET cannot encode (lone surrogates) becomes "x".</summary>
    public static string Escape(string value)
    {
        try
        {
            return Uri.EscapeDataString(value);
        }
        catch (UriFormatException)
        {
            return "x";
        }
    }
}
