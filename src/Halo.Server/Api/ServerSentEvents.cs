using System.Globalization;
using System.Net.ServerSentEvents;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Halo.Server.Api;

/// <summary>
/// Writes a Server-Sent Events stream: events through the framework's <see cref="SseFormatter"/> (id, event and data
/// fields; clients resume with Last-Event-ID), and a comment line when idle so proxies, and the clients' idle timeout, see
/// the connection alive. The formatter writes no comments, which is why this is not a plain
/// <c>TypedResults.ServerSentEvents</c>: that one would leave an idle feed silent.
/// </summary>
internal static class ServerSentEvents
{
    public readonly record struct Message(string Event, long Id, string Data);

    public static async Task StreamAsync(HttpContext context, IAsyncEnumerable<Message> source, TimeSpan keepAlive, TimeProvider time)
    {
        var response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        await response.StartAsync(context.RequestAborted).ConfigureAwait(false);
        // Send the headers now: the caller learns at once that the stream is open (not refused, 429) before any change.
        await response.Body.FlushAsync(context.RequestAborted).ConfigureAwait(false);

        var ct = context.RequestAborted;
        var channel = Channel.CreateBounded<Message>(new BoundedChannelOptions(10_000) { SingleWriter = true, SingleReader = true });
        var pump = PumpAsync(source, channel.Writer, ct);
        var batch = new List<SseItem<string>>();
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var ready = channel.Reader.WaitToReadAsync(ct).AsTask();
                if (await Task.WhenAny(ready, Task.Delay(keepAlive, time, ct)).ConfigureAwait(false) != ready)
                {
                    await response.WriteAsync(": keep-alive\n\n", ct).ConfigureAwait(false);
                    await response.Body.FlushAsync(ct).ConfigureAwait(false);
                    continue;
                }

                if (!await ready.ConfigureAwait(false))
                {
                    break;
                }

                // Everything already waiting goes out in one write: a burst of changes costs one flush, not one each.
                batch.Clear();
                while (channel.Reader.TryRead(out var message))
                {
                    batch.Add(new SseItem<string>(message.Data, message.Event) { EventId = message.Id.ToString(CultureInfo.InvariantCulture) });
                }

                await SseFormatter.WriteAsync(batch.ToAsyncEnumerable(), response.Body, ct).ConfigureAwait(false);
                await response.Body.FlushAsync(ct).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }

        await pump.ConfigureAwait(false);
    }

    private static async Task PumpAsync(IAsyncEnumerable<Message> source, ChannelWriter<Message> writer, CancellationToken ct)
    {
        try
        {
            await foreach (var message in source.WithCancellation(ct).ConfigureAwait(false))
            {
                await writer.WriteAsync(message, ct).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception)
        {
            // The client sees the stream end and resumes from its last event id; nothing is skipped.
        }

        writer.TryComplete();
    }
}
