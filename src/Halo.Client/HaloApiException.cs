using System.Net;
using System.Text.Json;

namespace Halo.Client;

/// <summary>
/// A call the server refused or failed, read from its <c>application/problem+json</c> answer (RFC 9457). The message is
/// one line: the detail, or the field errors as "field: message", or the status.
/// </summary>
public sealed class HaloApiException : Exception
{
    /// <summary>Creates the exception.</summary>
    public HaloApiException(HttpStatusCode status, string message, string? title = null, IReadOnlyDictionary<string, string[]>? errors = null)
        : base(message)
    {
        Status = status;
        Title = title;
        Errors = errors ?? new Dictionary<string, string[]>();
    }

    /// <summary>HTTP status of the answer.</summary>
    public HttpStatusCode Status { get; }

    /// <summary>The problem's title, when it had one.</summary>
    public string? Title { get; }

    /// <summary>Field errors ("port" → ["must be between 1 and 65535"]), empty when the problem named none.</summary>
    public IReadOnlyDictionary<string, string[]> Errors { get; }

    /// <summary>Returns normally for a success status; otherwise reads the problem body and throws it.</summary>
    public static async Task ThrowIfFailedAsync(HttpResponseMessage response, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(response);
        if (!response.IsSuccessStatusCode)
        {
            throw await ReadAsync(response, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Reads a failed response into an exception (not thrown). Tolerates a body that is not problem JSON.</summary>
    public static async Task<HaloApiException> ReadAsync(HttpResponseMessage response, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(response);
        string body;
        try
        {
            body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException)
        {
            body = "";
        }

        return Parse(response.StatusCode, response.ReasonPhrase, body);
    }

    /// <summary>Parses a problem body; the pure part of <see cref="ReadAsync"/>.</summary>
    public static HaloApiException Parse(HttpStatusCode status, string? reason, string? body)
    {
        string? title = null, detail = null;
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        try
        {
            using var doc = JsonDocument.Parse(string.IsNullOrWhiteSpace(body) ? "null" : body);
            var root = doc.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                title = String(root, "title");
                detail = String(root, "detail");
                if (root.TryGetProperty("errors", out var e) && e.ValueKind == JsonValueKind.Object)
                {
                    foreach (var field in e.EnumerateObject())
                    {
                        errors[field.Name] = field.Value.ValueKind == JsonValueKind.Array
                            ? [.. field.Value.EnumerateArray().Select(m => m.ValueKind == JsonValueKind.String ? m.GetString()! : m.GetRawText())]
                            : [field.Value.ToString()];
                    }
                }
            }
        }
        catch (JsonException)
        {
            // Not JSON (a proxy's HTML page, an empty body): the status says enough.
        }

        var message = detail
            ?? (errors.Count > 0 ? string.Join("; ", errors.Select(kv => $"{kv.Key}: {string.Join(", ", kv.Value)}")) : null)
            ?? title
            ?? $"{(int)status} {reason}".TrimEnd();
        return new HaloApiException(status, OneLine(message), title, errors);
    }

    private static string? String(JsonElement root, string name) =>
        root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && v.GetString() is { Length: > 0 } s ? s : null;

    private static string OneLine(string text) => text.ReplaceLineEndings(" ").Trim();
}
