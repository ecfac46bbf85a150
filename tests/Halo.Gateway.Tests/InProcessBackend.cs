using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Halo.Gateway.Tests;

/// <summary>A small backend on a real socket: "/" answers its name, "/slow?ms=" waits first, "/status/{code}".</summary>
internal sealed class InProcessBackend : IAsyncDisposable
{
    private WebApplication _app = null!;
    public int Hits;

    public string Name { get; private init; } = "";

    public int Port { get; private set; }

    public static async Task<InProcessBackend> StartAsync(string name)
    {
        var b = new InProcessBackend { Name = name };
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
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
        await app.StartAsync();
        b._app = app;
        b.Port = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;
        return b;
    }

    public async ValueTask DisposeAsync()
    {
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2))) { await _app.StopAsync(cts.Token); }
        await _app.DisposeAsync();
    }
}
