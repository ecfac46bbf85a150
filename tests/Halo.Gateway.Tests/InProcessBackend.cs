using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Halo.Gateway.Tests;

/// <summary>
/// A small backend on a real socket: "/" answers its name, "/slow?ms=" waits first, "/status/{code}",
/// "/echo" returns the request body, "/bytes?n=" n bytes with a length, "/chunked?n=" n bytes chunked,
/// "/headers" the request header names it received, "/header/{name}" that header's value. Counts requests (Hits) and accepted connections.
/// </summary>
internal sealed class InProcessBackend : IAsyncDisposable
{
    private WebApplication _app = null!;
    public int Hits;
    public int Connections;

    public string Name { get; private init; } = "";

    public int Port { get; private set; }

    public static async Task<InProcessBackend> StartAsync(string name, TimeSpan? keepAlive = null)
    {
        var b = new InProcessBackend { Name = name };
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            if (keepAlive is { } ka)
            {
                k.Limits.KeepAliveTimeout = ka;
            }

            k.Listen(System.Net.IPAddress.Loopback, 0, listen => listen.Use(next => connection =>
            {
                Interlocked.Increment(ref b.Connections);
                return next(connection);
            }));
        });
        var app = builder.Build();
        app.Use(async (ctx, next) =>
        {
            Interlocked.Increment(ref b.Hits);
            ctx.Response.Headers["X-Backend"] = name;
            await next(ctx);
        });
        app.MapGet("/", () => name);
        app.MapGet("/slow", async (int ms) =>
        {
            await Task.Delay(ms);
            return name;
        });
        app.MapMethods("/status/{code:int}", ["GET", "POST", "PUT"], async (int code, HttpRequest request) =>
        {
            // Read the body before answering so the connection stays reusable (no close-on-unread-body race).
            await request.Body.CopyToAsync(Stream.Null);
            return Results.Text(name, statusCode: code);
        });
        app.MapMethods("/echo", ["POST", "PUT"], async (HttpRequest request) =>
        {
            using var buffer = new MemoryStream();
            await request.Body.CopyToAsync(buffer);
            return Results.Bytes(buffer.ToArray(), "application/octet-stream");
        });
        app.MapMethods("/bytes", ["GET", "HEAD"], (int n) => Results.Bytes(Pattern(n), "application/octet-stream"));
        app.MapGet("/chunked", async (int n, HttpResponse response) =>
        {
            var data = Pattern(n);
            for (var i = 0; i < n; i += 7000)
            {
                await response.Body.WriteAsync(data.AsMemory(i, Math.Min(7000, n - i)));
                await response.Body.FlushAsync();
            }
        });
        app.MapGet("/headers", (HttpRequest request) => string.Join(",", request.Headers.Keys.Order(StringComparer.OrdinalIgnoreCase)));
        app.MapGet("/header/{name}", (string name, HttpRequest request) => request.Headers[name].ToString());
        await app.StartAsync();
        b._app = app;
        b.Port = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;
        return b;
    }

    /// <summary>The bytes /bytes and /chunked send: a repeating pattern, so a test can check every byte.</summary>
    public static byte[] Pattern(int n)
    {
        var data = new byte[n];
        for (var i = 0; i < n; i++)
        {
            data[i] = (byte)(i * 31 % 251);
        }

        return data;
    }

    public async ValueTask DisposeAsync()
    {
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2))) { await _app.StopAsync(cts.Token); }
        await _app.DisposeAsync();
    }
}
