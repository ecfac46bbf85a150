using System.Buffers;
using System.Text.Json;
using Halo.Core.Serialization;
using Microsoft.AspNetCore.Http;

namespace Halo.Server.Api;

/// <summary>
/// Reads a JSON request body strictly and within a size limit. Malformed JSON, unknown fields and wrong
/// types become a 400 naming the field (from the parser's JSON path); an oversized body becomes a 413.
/// </summary>
internal static class JsonBody
{
    /// <summary>The parser's message without .NET type names: callers know JSON, not our classes.</summary>
    private static string Explain(JsonException ex)
    {
        var message = ex.Message.Split(" Path:", 2)[0];
        if (message.StartsWith("The JSON property", StringComparison.Ordinal))
        {
            return "unknown field";
        }

        if (message.StartsWith("The JSON value could not be converted to", StringComparison.Ordinal))
        {
            var type = message.Contains("Int32", StringComparison.Ordinal) || message.Contains("Int64", StringComparison.Ordinal) ? "an integer"
                : message.Contains("Boolean", StringComparison.Ordinal) ? "true or false"
                : message.Contains("Double", StringComparison.Ordinal) ? "a number"
                : message.Contains("String", StringComparison.Ordinal) ? "a string"
                : message.Contains("List", StringComparison.Ordinal) ? "an array"
                : message.Contains("Dictionary", StringComparison.Ordinal) ? "an object of string values"
                : message.Contains("Kind", StringComparison.Ordinal) || message.Contains("Type", StringComparison.Ordinal) ? "one of the documented names"
                : "a value of the documented type";
            return "expected " + type;
        }

        return message;
    }

    public static async Task<(T? Value, IResult? Error)> ReadAsync<T>(HttpContext context, int maxBytes)
        where T : class
    {
        var request = context.Request;
        if (request.ContentLength > maxBytes)
        {
            return (null, Problems.TooLarge(maxBytes));
        }

        if (request.ContentType is { } type && !type.Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            return (null, TypedResults.Problem(title: "Unsupported media type", detail: "send application/json",
                statusCode: StatusCodes.Status415UnsupportedMediaType));
        }

        // A registration body is a few hundred bytes: size the buffer by Content-Length and read from a pooled chunk, instead
        // of a fresh 16 KiB array per request.
        using var buffer = new MemoryStream(request.ContentLength is > 0 and var length ? (int)length : 256);
        var chunk = ArrayPool<byte>.Shared.Rent(4 * 1024);
        try
        {
            int read;
            while ((read = await request.Body.ReadAsync(chunk, context.RequestAborted).ConfigureAwait(false)) > 0)
            {
                if (buffer.Length + read > maxBytes)
                {
                    return (null, Problems.TooLarge(maxBytes));
                }

                buffer.Write(chunk, 0, read);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }

        if (buffer.Length == 0)
        {
            return (null, Problems.Invalid("body", "a JSON body is required"));
        }

        try
        {
            var value = JsonSerializer.Deserialize<T>(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), HaloJson.Strict);
            return value is null ? (null, Problems.Invalid("body", "a JSON object is required")) : (value, null);
        }
        catch (JsonException ex)
        {
            var field = string.IsNullOrEmpty(ex.Path) || ex.Path == "$" ? "body" : ex.Path.TrimStart('$', '.');
            var message = Explain(ex);
            return (null, Problems.Invalid(field, message));
        }
    }
}
