using System.Net.Http.Headers;
using System.Text.Json;

namespace Halo.Server.Tests;

/// <summary>Blocking queries and the SSE change feed: answered on change, resumable without gaps or duplicates.</summary>
public sealed class FeedTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task BlockingQuery_ChangeWhileWaiting_ReturnsWithHigherIndex()
    {
        await using var server = await ServerFixture.StartAsync();
        (await server.RegisterAsync("web", "web-1")).Dispose();
        using var first = await server.Http.GetAsync("/v1/services/web/instances");
        var index = long.Parse(first.Headers.GetValues("X-Halo-Index").Single(), System.Globalization.CultureInfo.InvariantCulture);

        var waiting = server.Http.GetAsync($"/v1/services/web/instances?index={index}&wait=1m");
        await Task.Delay(200);
        Assert.False(waiting.IsCompleted, "the query should block while nothing changes");
        (await server.RegisterAsync("web", "web-2")).Dispose();

        using var answered = await waiting.WaitAsync(Bound);
        var body = JsonDocument.Parse(await answered.Content.ReadAsStringAsync()).RootElement;
        Assert.True(body.GetProperty("revision").GetInt64() > index);
        Assert.Equal(2, body.GetProperty("instances").GetArrayLength());
    }

    [Fact]
    public async Task BlockingQuery_NoChange_ReturnsWhenWaitElapses()
    {
        await using var server = await ServerFixture.StartAsync();
        // A long TTL: the clock jumps 11 s at a time below, and a 1 s instance silent that long really changes (suspect).
        (await server.RegisterAsync("web", "web-1", new { address = "127.0.0.1", port = 8080, ttl = "1h" })).Dispose();
        using var first = await server.Http.GetAsync("/v1/services/web/instances");
        var index = first.Headers.GetValues("X-Halo-Index").Single();

        var waiting = server.Http.GetAsync($"/v1/services/web/instances?index={index}&wait=10s");
        await Task.Delay(200);
        Assert.False(waiting.IsCompleted);

        // The request may reach the server after a given advance of the fake clock (a loaded machine), so keep
        // moving time until the wait elapses for it; bounded by real time.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!waiting.IsCompleted && clock.Elapsed < Bound)
        {
            server.Time.Advance(TimeSpan.FromSeconds(11));
            await Task.WhenAny(waiting, Task.Delay(100));
        }

        using var answered = await waiting.WaitAsync(Bound);
        Assert.Equal(index, answered.Headers.GetValues("X-Halo-Index").Single());
    }

    [Fact]
    public async Task Watch_DisconnectAndResume_NoChangeMissedOrRepeated()
    {
        await using var server = await ServerFixture.StartAsync();
        var start = await server.Store.GetRevisionAsync();
        for (var i = 1; i <= 3; i++)
        {
            (await server.RegisterAsync("web", $"web-{i}")).Dispose();
        }

        var seen = new List<(long Id, string Event, string Data)>();
        using (var cts = new CancellationTokenSource(Bound))
        {
            await foreach (var m in ReadSseAsync(server.Http, $"/v1/watch?service=web&from={start}", null, cts.Token))
            {
                seen.Add(m);
                if (seen.Count == 2)
                {
                    break; // disconnect mid-stream
                }
            }
        }

        for (var i = 4; i <= 5; i++)
        {
            (await server.RegisterAsync("web", $"web-{i}")).Dispose();
        }

        using var deleted = await server.Http.DeleteAsync("/v1/services/web/instances/web-1");
        using (var cts = new CancellationTokenSource(Bound))
        {
            await foreach (var m in ReadSseAsync(server.Http, "/v1/watch?service=web", seen[^1].Id.ToString(System.Globalization.CultureInfo.InvariantCulture), cts.Token))
            {
                seen.Add(m);
                if (seen.Count == 6)
                {
                    break;
                }
            }
        }

        Assert.Equal(seen.Select(s => s.Id).Distinct().Count(), seen.Count);
        Assert.Equal(seen.Select(s => s.Id).Order(), seen.Select(s => s.Id));
        var ids = seen.Take(5).Select(s => JsonDocument.Parse(s.Data).RootElement.GetProperty("id").GetString());
        Assert.Equal(["web-1", "web-2", "web-3", "web-4", "web-5"], ids);
        Assert.Equal("delete", seen[5].Event);
    }

    [Theory]
    [InlineData("/v1/watch?service=web&from={0}", "put")]
    [InlineData("/v1/events/stream?after={0}", null)]
    public async Task Stream_WireFormat_IdEventDataLinesAndKeepAliveComment(string path, string? firstEvent)
    {
        await using var server = await ServerFixture.StartAsync();
        var start = await server.Store.GetRevisionAsync();
        (await server.RegisterAsync("web", "web-1")).Dispose();
        using var cts = new CancellationTokenSource(Bound);
        using var request = new HttpRequestMessage(HttpMethod.Get, string.Format(System.Globalization.CultureInfo.InvariantCulture, path, start));
        using var response = await server.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.True(response.Headers.CacheControl?.NoCache);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token));

        // What the client's SseParser, the dashboard's EventSource and the scripts rely on: one "field: value" line each
        // for id (a store revision, for Last-Event-ID), event and data (one line of JSON), then a blank line.
        var fields = new Dictionary<string, string>();
        while (await reader.ReadLineAsync(cts.Token) is { Length: > 0 } line)
        {
            var colon = line.IndexOf(": ", StringComparison.Ordinal);
            Assert.True(colon > 0, $"not a field line: '{line}'");
            Assert.True(fields.TryAdd(line[..colon], line[(colon + 2)..]), $"field repeated: '{line}'");
        }

        Assert.Equal(["data", "event", "id"], fields.Keys.Order());
        Assert.Equal(firstEvent ?? fields["event"], fields["event"]);
        Assert.NotEmpty(fields["event"]);
        Assert.True(long.Parse(fields["id"], System.Globalization.CultureInfo.InvariantCulture) > start);
        Assert.Contains("web-1", JsonDocument.Parse(fields["data"]).RootElement.GetRawText(), StringComparison.Ordinal);

        // Idle: a comment line, which every SSE parser skips, keeps proxies and the clients' idle timeout satisfied. Moving the
        // clock on also lets web-1's heartbeats lapse, so a health event may come first on the event stream: skip events.
        string? comment;
        do
        {
            var next = reader.ReadLineAsync(cts.Token).AsTask();
            while (!next.IsCompleted && !cts.IsCancellationRequested)
            {
                server.Time.Advance(TimeSpan.FromSeconds(16));
                await Task.WhenAny(next, Task.Delay(100, cts.Token));
            }

            comment = await next;
        }
        while (comment is not null && !comment.StartsWith(':'));

        Assert.Equal(": keep-alive", comment);
    }

    [Fact]
    public async Task EventStream_HealthTransition_DeliveredLive()
    {
        await using var server = await ServerFixture.StartAsync();
        (await server.RegisterAsync("web", "web-1")).Dispose();
        var from = await server.Store.GetRevisionAsync();
        using var cts = new CancellationTokenSource(Bound);
        var stream = ReadSseAsync(server.Http, $"/v1/events/stream?after={from}", null, cts.Token).GetAsyncEnumerator(cts.Token);
        var next = stream.MoveNextAsync().AsTask();

        await server.AdvanceAsync(TimeSpan.FromSeconds(2));

        Assert.True(await next.WaitAsync(Bound));
        Assert.Equal("health", stream.Current.Event);
        Assert.Equal("suspect", JsonDocument.Parse(stream.Current.Data).RootElement.GetProperty("to").GetString());
        await stream.DisposeAsync();
    }

    internal static async IAsyncEnumerable<(long Id, string Event, string Data)> ReadSseAsync(
        HttpClient http, string path, string? lastEventId, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        if (lastEventId is not null)
        {
            request.Headers.Add("Last-Event-ID", lastEventId);
        }

        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        response.EnsureSuccessStatusCode();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct));
        long id = 0;
        string? type = null, data = null;
        while (await reader.ReadLineAsync(ct) is { } line)
        {
            if (line.Length == 0 && data is not null)
            {
                yield return (id, type ?? "message", data);
                type = data = null;
            }
            else if (line.StartsWith("id: ", StringComparison.Ordinal)) id = long.Parse(line[4..], System.Globalization.CultureInfo.InvariantCulture);
            else if (line.StartsWith("event: ", StringComparison.Ordinal)) type = line[7..];
            else if (line.StartsWith("data: ", StringComparison.Ordinal)) data = line[6..];
        }
    }
}
