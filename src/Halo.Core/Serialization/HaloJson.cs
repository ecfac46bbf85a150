using System.Text.Json;
using System.Text.Json.Serialization;

namespace Halo.Core.Serialization;

/// <summary>The JSON conventions of every Halo API and stored record: camelCase, enums as camelCase strings, durations as "3s".</summary>
public static class HaloJson
{
    /// <summary>For what Halo writes and reads back (stored records, responses). Tolerates unknown fields for forward compatibility.</summary>
    public static JsonSerializerOptions Options { get; } = Create(strict: false);

    /// <summary>For requests from outside: an unknown field is an error, so a typo ("prot") is named instead of ignored.</summary>
    public static JsonSerializerOptions Strict { get; } = Create(strict: true);

    private static JsonSerializerOptions Create(bool strict)
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            UnmappedMemberHandling = strict ? JsonUnmappedMemberHandling.Disallow : JsonUnmappedMemberHandling.Skip,
            MaxDepth = 16,
            // Web defaults read "80" as 80; a request that sends a string for a number is wrong and should hear so.
            NumberHandling = strict ? JsonNumberHandling.Strict : JsonNumberHandling.AllowReadingFromString,
        };
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.CamelCase, allowIntegerValues: false));
        options.Converters.Add(new DurationJsonConverter());
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}

/// <summary>Reads "250ms", "3s", "1m" or a number of seconds; writes the shortest string form.</summary>
public sealed class DurationJsonConverter : JsonConverter<TimeSpan>
{
    public override TimeSpan Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        // A bare JSON number is seconds, as Consul and etcd clients send them; never negative.
        if (reader.TokenType == JsonTokenType.Number && reader.TryGetDouble(out var seconds) && seconds >= 0 && seconds < TimeSpan.MaxValue.TotalSeconds / 2)
        {
            return TimeSpan.FromSeconds(seconds);
        }

        if (reader.TokenType == JsonTokenType.String && Durations.TryParse(reader.GetString(), out var value))
        {
            return value;
        }

        throw new JsonException("expected a duration such as \"250ms\", \"3s\" or \"1m\"");
    }

    public override void Write(Utf8JsonWriter writer, TimeSpan value, JsonSerializerOptions options) =>
        writer.WriteStringValue(Durations.Format(value));
}
