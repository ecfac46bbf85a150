using System.Text;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Halo.Server.Api;

/// <summary>Writes a Server-Sent Events stream, with a comment line when idle so proxies keep the connection open.</summary>
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
        var writer = new StringBuilder();
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

                writer.Clear();
                while (channel.Reader.TryRead(out var message))
                {
                    writer.Append("id: ").Append(message.Id).Append('\n')
                          .Append("event: ").Append(message.Event).Append('\n')
                          .Append("data: ").Append(message.Data).Append("\n\n");
                }

                await response.WriteAsync(writer.ToString(), ct).ConfigureAwait(false);
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
