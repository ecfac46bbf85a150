using System.Net;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Halo.Client.Tests;

/// <summary>The resuming feed reader against real servers: a cut stream resumes from the last revision, on another server if need be.</summary>
public sealed class FeedReaderTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);
    private static readonly object Instance = new { address = "127.0.0.1", port = 8080, ttl = "10s" };

    [Fact]
    public async Task Watch_ServerKilledMidStream_ResumesOnNextServerWithoutGapOrDuplicate()
    {
        await using var servers = await Servers.StartAsync();
        var (a, urlA) = await servers.AddServerAsync();
        var (_, urlB) = await servers.AddServerAsync();
        using var writerA = new HaloClient(urlA);
        using var writerB = new HaloClient(urlB);
        using var client = new HaloClient(new HaloClientOptions { Servers = [urlA, urlB] });
        var lost = 0;
        var connectedTo = Channel.CreateUnbounded<Uri?>();
        var reader = client.Feed(connected: (server, _) => connectedTo.Writer.TryWrite(server), lost: _ => Interlocked.Increment(ref lost));
        var catalog = await client.CatalogAsync();
        using var stop = new CancellationTokenSource(Bound);
        await using var feed = reader.FollowAsync("v1/watch", "from", catalog.Revision, stop.Token).GetAsyncEnumerator(stop.Token);
        var next = () => Wait.ForAsync(feed.MoveNextAsync().AsTask(), Bound, "the next feed message");

        var first = writerA.RegisterAsync("web", "web-1", Instance);
        Assert.True(await next());
        Assert.Equal("web-1", HaloClient.ParseInstance(feed.Current)!.Id);
        await first;
        Assert.Equal(urlA.Authority, (await connectedTo.Reader.ReadAsync(stop.Token))!.Authority);

        await Servers.KillAsync(a);
        var second = await writerB.RegisterAsync("web", "web-2", Instance);

        Assert.True(await next());
        Assert.Equal("put", feed.Current.Event);
        Assert.Equal("web-2", HaloClient.ParseInstance(feed.Current)!.Id);
        Assert.Equal(second.Revision, feed.Current.Revision);
        Assert.True(Volatile.Read(ref lost) >= 1);
        Assert.Equal(urlB.Authority, (await connectedTo.Reader.ReadAsync(stop.Token))!.Authority);
    }

    [Fact]
    public async Task Feed_Reset_YieldedAndEndsSequence()
    {
        await using var servers = await Servers.StartAsync();
        var app = await StartScriptedAsync(async (context, _) =>
        {
            context.Response.ContentType = "text/event-stream";
            await context.Response.WriteAsync("id: 7\nevent: reset\ndata: {\"reason\":\"compacted\"}\n\n");
            await Task.Delay(Timeout.Infinite, context.RequestAborted);
        });
        await using var _ = app.App;
        using var client = new HaloClient(app.Url);

        var messages = new List<FeedMessage>();
        using var stop = new CancellationTokenSource(Bound);
        await foreach (var m in client.WatchAsync(from: 3, ct: stop.Token))
        {
            messages.Add(m);
        }

        var reset = Assert.Single(messages);
        Assert.Equal(("reset", 7L), (reset.Event, reset.Revision));
    }

    [Fact]
    public async Task Feed_SilentServer_ReconnectsWithLastEventId()
    {
        var requests = Channel.CreateUnbounded<(string? Query, string? LastEventId)>();
        var app = await StartScriptedAsync(async (context, n) =>
        {
            requests.Writer.TryWrite((context.Request.Query["from"], context.Request.Headers["Last-Event-ID"]));
            context.Response.ContentType = "text/event-stream";
            if (n == 1)
            {
                await context.Response.WriteAsync("id: 12\nevent: put\ndata: {\"service\":\"web\",\"id\":\"web-1\",\"address\":\"127.0.0.1\",\"port\":1}\n\n");
                await context.Response.Body.FlushAsync();
            }

            // Then nothing, not even a keep-alive: a hung server.
            await Task.Delay(Timeout.Infinite, context.RequestAborted);
        });
        await using var _ = app.App;
        using var client = new HaloClient(new HaloClientOptions { Servers = [app.Url], FeedIdleTimeout = TimeSpan.FromMilliseconds(300) });
        using var stop = new CancellationTokenSource(Bound);

        await using var feed = client.WatchAsync(from: 10, ct: stop.Token).GetAsyncEnumerator(stop.Token);
        var read = feed.MoveNextAsync().AsTask();

        Assert.Equal(("10", "10"), await requests.Reader.ReadAsync(stop.Token));
        Assert.True(await Wait.ForAsync(read, Bound, "the first message"));
        var pending = feed.MoveNextAsync().AsTask();
        Assert.Equal(("12", "12"), await requests.Reader.ReadAsync(stop.Token));
        Assert.False(pending.IsCompleted);
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending);
    }

    [Fact]
    public async Task Feed_BadRequest_ThrownNotRetried()
    {
        await using var servers = await Servers.StartAsync();
        var (_, url) = await servers.AddServerAsync();
        using var client = new HaloClient(url);

        var error = await Assert.ThrowsAsync<HaloApiException>(async () =>
        {
            await foreach (var m in client.WatchAsync("not a name!", null))
            {
            }
        });

        Assert.Equal(HttpStatusCode.BadRequest, error.Status);
        Assert.StartsWith("service:", error.Message, StringComparison.Ordinal);
    }

    private static async Task<(WebApplication App, Uri Url)> StartScriptedAsync(Func<HttpContext, int, Task> handle)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrelLoopback();
        var app = builder.Build();
        var n = 0;
        app.Run(context => handle(context, Interlocked.Increment(ref n)));
        await app.StartAsync();
        return (app, Halo.Server.HaloServerHost.Address(app));
    }
}
