using System.Net;
using Halo.Server;
using Halo.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Halo.Client.Tests;

/// <summary>
/// Real `halo server` hosts on free loopback ports over one real embedded store (as several servers share one etcd),
/// each stoppable on its own, plus stand-ins that answer every call with a fixed status.
/// </summary>
internal sealed class Servers : IAsyncDisposable
{
    private readonly List<WebApplication> _apps = [];

    private Servers(IStore store, string directory)
    {
        Store = store;
        Directory = directory;
    }

    public IStore Store { get; }
    public string Directory { get; }

    public static async Task<Servers> StartAsync()
    {
        var directory = Path.Combine(Path.GetTempPath(), "halo-client-tests-" + Guid.NewGuid().ToString("N"));
        var store = await EmbeddedStore.OpenAsync(directory, new EmbeddedStoreOptions(), TimeProvider.System);
        return new Servers(store, directory);
    }

    /// <summary>Starts one more server over the shared store; returns its base URL.</summary>
    public Task<(WebApplication App, Uri Url)> AddServerAsync() => AddServerAtAsync(null);

    /// <summary>Starts a server at <paramref name="url"/> (a restart on the port an earlier one had), or on a free port.</summary>
    public async Task<(WebApplication App, Uri Url)> AddServerAtAsync(Uri? url)
    {
        var listen = url is null ? "http://127.0.0.1:0" : $"http://127.0.0.1:{url.Port}";
        var app = await HaloServerHost.BuildAsync(new ServerOptions
            {
                Listen = listen, DataDirectory = Directory, StreamKeepAlive = TimeSpan.FromMilliseconds(200),
                // Not about auth (tokens have their own tests): explicitly anonymous on loopback.
                Security = new() { AllowAnonymous = true },
            },
            Store, TimeProvider.System, logging: l => l.ClearProviders());
        await app.StartAsync();
        _apps.Add(app);
        return (app, HaloServerHost.Address(app));
    }

    /// <summary>A server that answers every request with <paramref name="status"/> (a problem body) and counts them.</summary>
    public async Task<(WebApplication App, Uri Url, Func<int> Calls)> AddFixedAsync(HttpStatusCode status)
    {
        var calls = 0;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        app.Run(async context =>
        {
            Interlocked.Increment(ref calls);
            context.Response.StatusCode = (int)status;
            context.Response.ContentType = "application/problem+json";
            await context.Response.WriteAsync($$"""{"title":"fixed","status":{{(int)status}},"detail":"fixed answer {{(int)status}}"}""");
        });
        await app.StartAsync();
        _apps.Add(app);
        return (app, HaloServerHost.Address(app), () => Volatile.Read(ref calls));
    }

    /// <summary>Stops a server at once, cutting its open streams (no graceful wait).</summary>
    public static async Task KillAsync(WebApplication app)
    {
        using var now = new CancellationTokenSource(TimeSpan.FromMilliseconds(1));
        try
        {
            await app.StopAsync(now.Token);
        }
        catch (OperationCanceledException)
        {
        }

        await app.DisposeAsync();
    }

    /// <summary>A port nothing listens on (bound, read back, released).</summary>
    public static Uri DeadUrl()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return new Uri($"http://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}/");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var app in _apps)
        {
            try
            {
                await KillAsync(app);
            }
            catch (ObjectDisposedException)
            {
            }
        }

        await Store.DisposeAsync();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Bounded waits: a condition that never comes true fails the test instead of hanging it.</summary>
internal static class Wait
{
    public static async Task<T> ForAsync<T>(Task<T> task, TimeSpan timeout, string what)
    {
        if (await Task.WhenAny(task, Task.Delay(timeout)) != task)
        {
            throw new TimeoutException($"timed out after {timeout.TotalSeconds}s waiting for {what}");
        }

        return await task;
    }
}
