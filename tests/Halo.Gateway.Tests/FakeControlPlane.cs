using System.Collections.Concurrent;
using System.Text.Json;
using Halo.Core.Registry;
using Halo.Core.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Halo.Gateway.Tests;

/// <summary>
/// An in-process stand-in for `halo server`'s catalog and watch endpoints (docs/api.md), on a real
/// socket, so feed behaviour (resume, reset, bad updates) can be driven exactly.
/// </summary>
internal sealed class FakeControlPlane : IAsyncDisposable
{
    private static readonly JsonSerializerOptions Json = HaloJson.Options;
    private readonly object _gate = new();
    private readonly List<(long Revision, string Type, string Data)> _events = [];
    private readonly Dictionary<string, InstanceRecord> _instances = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private WebApplication? _app;
    private long _revision;

    public ConcurrentQueue<string> Reports { get; } = new();

    public bool ReportsEndpointMissing { get; set; }

    public int CatalogReads;

    public Uri Url { get; private set; } = null!;

    public static async Task<FakeControlPlane> StartAsync()
    {
        var cp = new FakeControlPlane();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
        var app = builder.Build();
        app.MapGet("/v1/catalog", () =>
        {
            Interlocked.Increment(ref cp.CatalogReads);
            lock (cp._gate)
            {
                return Results.Json(new { revision = cp._revision, instances = cp._instances.Values.ToList() }, Json);
            }
        });
        app.MapGet("/v1/watch", cp.WatchAsync);
        app.MapPost("/v1/services/{service}/instances/{id}/reports", async (string service, string id, HttpRequest req) =>
        {
            if (cp.ReportsEndpointMissing)
            {
                return Results.NotFound();
            }

            using var reader = new StreamReader(req.Body);
            cp.Reports.Enqueue($"{service}/{id} {await reader.ReadToEndAsync()}");
            return Results.NoContent();
        });
        await app.StartAsync();
        cp._app = app;
        cp.Url = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return cp;
    }

    public void Put(InstanceRecord instance)
    {
        lock (_gate)
        {
            var rev = ++_revision;
            var stored = instance with { Revision = rev };
            _instances[$"{instance.Service}/{instance.Id}"] = stored;
            Append(rev, "put", JsonSerializer.Serialize(stored, Json));
        }
    }

    /// <summary>Appends a raw event (used to send malformed updates).</summary>
    public void PutRaw(string data)
    {
        lock (_gate)
        {
            Append(++_revision, "put", data);
        }
    }

    /// <summary>Tells watchers history is gone; they must re-read the catalog.</summary>
    public void Reset()
    {
        lock (_gate)
        {
            Append(++_revision, "reset", "{}");
        }
    }

    private void Append(long rev, string type, string data)
    {
        _events.Add((rev, type, data));
        _changed.TrySetResult();
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private async Task WatchAsync(HttpContext ctx, long? from)
    {
        ctx.Response.ContentType = "text/event-stream";
        await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
        var sent = from ?? 0;
        try
        {
            while (!ctx.RequestAborted.IsCancellationRequested)
            {
                List<(long Revision, string Type, string Data)> batch;
                Task changed;
                lock (_gate)
                {
                    batch = _events.Where(e => e.Revision > sent).ToList();
                    changed = _changed.Task;
                }

                foreach (var e in batch)
                {
                    await ctx.Response.WriteAsync($"id: {e.Revision}\nevent: {e.Type}\ndata: {e.Data}\n\n", ctx.RequestAborted);
                    sent = e.Revision;
                }

                await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
                await changed.WaitAsync(ctx.RequestAborted);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2))) { await _app.StopAsync(cts.Token); }
            await _app.DisposeAsync();
        }
    }
}
