using System.Text.Json;
using Halo.Core.Serialization;
using Microsoft.AspNetCore.Http;

namespace Halo.Server.Api;

/// <summary>
/// A JSON answer serialized in one synchronous pass and sent with a Content-Length in one write, for the registry's write
/// path. The framework's JSON results serialize asynchronously into the response pipe (resumable converters, chunked
/// framing): ~6 % of a registration's server CPU, profiled (docs/performance.md). Same bytes as the framework's results:
/// the HTTP JSON options are <see cref="HaloJson.Options"/>' conventions.
/// </summary>
internal sealed class JsonAnswer<T>(int status, T value, string? location = null) : IResult
{
    public Task ExecuteAsync(HttpContext httpContext)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(value, HaloJson.Options);
        var response = httpContext.Response;
        response.StatusCode = status;
        if (location is not null)
        {
            response.Headers.Location = location;
        }

        response.ContentType = "application/json; charset=utf-8";
        response.ContentLength = bytes.Length;
        // No cancellation: a client that left is Kestrel's to handle, as with the framework's results (which swallow it).
        return response.Body.WriteAsync(bytes, 0, bytes.Length);
    }
}
