using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Halo.Server.Tests.Monitoring;

/// <summary>A real HTTP receiver (Kestrel on a free loopback port) that answers with planned statuses and keeps every body.</summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<int> _plan;
    private readonly SemaphoreSlim _arrived = new(0);

    private WebhookReceiver(WebApplication app, IEnumerable<int> plan)
    {
        _app = app;
        _plan = new ConcurrentQueue<int>(plan);
    }

    /// <summary>Every request received, in order, with the status it was answered with.</summary>
    public ConcurrentQueue<(int Status, JsonElement Body)> Requests { get; } = new();

    public string Url { get; private set; } = "";

    /// <summary>Answers each request with the next status of <paramref name="plan"/>, then 200 once it runs out.</summary>
    public static async Task<WebhookReceiver> StartAsync(params int[] plan)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new WebhookReceiver(app, plan);
        app.MapPost("/hook", async (HttpContext context) =>
        {
            var body = await JsonDocument.ParseAsync(context.Request.Body);
            var status = receiver._plan.TryDequeue(out var planned) ? planned : 200;
            receiver.Requests.Enqueue((status, body.RootElement.Clone()));
            receiver._arrived.Release();
            return Results.StatusCode(status);
        });
        await app.StartAsync();
        receiver.Url = app.Urls.First() + "/hook";
        return receiver;
    }

    /// <summary>Waits (bounded, real time) until at least <paramref name="count"/> requests arrived.</summary>
    public async Task WaitForAsync(int count, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (Requests.Count < count)
        {
            try
            {
                await _arrived.WaitAsync(TimeSpan.FromMilliseconds(100), cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"{Requests.Count} of {count} webhook requests within {timeout}");
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
