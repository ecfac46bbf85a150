using System.Collections.Concurrent;
using Halo.Server.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Halo.Server.Dashboard;

/// <summary>
/// Serves the built-in dashboard: static HTML, CSS and JS embedded in this assembly (no build step, no files to
/// deploy), reading only the public API. The page lives at "/", its assets under "/dashboard/".
/// </summary>
internal static class DashboardEndpoints
{
    private static readonly Dictionary<string, string> ContentTypes = new(StringComparer.OrdinalIgnoreCase)
    {
        [".html"] = "text/html; charset=utf-8",
        [".css"] = "text/css; charset=utf-8",
        [".js"] = "text/javascript; charset=utf-8",
        [".svg"] = "image/svg+xml",
    };

    private static readonly ConcurrentDictionary<string, byte[]> Cache = new(StringComparer.Ordinal);

    public static void MapDashboard(this IEndpointRouteBuilder app)
    {
        app.MapGet("/", (HttpContext context) => Serve(context, "index.html")).AllowAnonymousAccess();
        app.MapGet("/dashboard/{file}", (string file, HttpContext context) => Serve(context, file)).AllowAnonymousAccess();
    }

    private static IResult Serve(HttpContext context, string file)
    {
        if (Load(file) is not { } content || !ContentTypes.TryGetValue(Path.GetExtension(file), out var type))
        {
            return TypedResults.Problem(title: "Not found", detail: $"no dashboard file {file}", statusCode: StatusCodes.Status404NotFound);
        }

        var headers = context.Response.Headers;
        headers.CacheControl = "no-cache";
        // Same-origin everything and no inline script: the page reads the API it is served by and nothing else.
        headers.ContentSecurityPolicy = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'";
        headers.XContentTypeOptions = "nosniff";
        return TypedResults.Bytes(content, type);
    }

    /// <summary>Embedded under the logical name "dashboard/{file}" (see Halo.Server.csproj); read once.</summary>
    private static byte[]? Load(string file)
    {
        if (Cache.TryGetValue(file, out var cached))
        {
            return cached;
        }

        using var stream = typeof(DashboardEndpoints).Assembly.GetManifestResourceStream("dashboard/" + file);
        if (stream is null)
        {
            // Misses are not cached: arbitrary names from the URL must not grow the cache.
            return null;
        }

        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return Cache[file] = copy.ToArray();
    }
}
