using System.Globalization;
using System.Net;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text;
using Halo.Core.Balancing;

namespace Halo.Client;

/// <summary>One message of a change feed: its type, the store revision it carries (its SSE id) and its JSON data.</summary>
/// <param name="Event">"put", "delete", "reset", or an event type on the event stream.</param>
/// <param name="Revision">The store revision; resuming from it (on any server) continues right after this message.</param>
/// <param name="Data">The JSON payload.</param>
public sealed record FeedMessage(string Event, long Revision, string Data);

/// <summary>
/// Follows one Server-Sent Events feed of the control plane (the change feed or the event stream) for as long as the
/// caller enumerates: it parses with .NET's <see cref="SseParser"/>, and after a disconnect, a 5xx or a feed silent for
/// <see cref="HaloClientOptions.FeedIdleTimeout"/> it reconnects — to the next server when the current one is gone —
/// and resumes from the revision of the last message it yielded (<c>Last-Event-ID</c>), waiting a jittered back-off
/// between tries. A <c>reset</c> message (the history asked for is gone) is yielded and ends the sequence: re-read the
/// state and follow again from its revision. A 4xx other than 408/429 is not retried: it is thrown as <see cref="HaloApiException"/>.
/// </summary>
public sealed class FeedReader
{
    private readonly HttpClient _http;
    private readonly TimeProvider _time;
    private readonly IRandomFactory _random;
    private readonly TimeSpan _idleTimeout;

    /// <summary>Creates a reader over a client made by <see cref="HaloHttp.CreateClient"/> (or any client with the server as base address).</summary>
    public FeedReader(HttpClient http, TimeProvider? time = null, IRandomFactory? random = null, TimeSpan? idleTimeout = null)
    {
        ArgumentNullException.ThrowIfNull(http);
        _http = http;
        _time = time ?? TimeProvider.System;
        _random = random ?? new SystemRandomFactory();
        _idleTimeout = idleTimeout ?? TimeSpan.FromSeconds(45);
    }

    /// <summary>First wait after a failed connection; doubled per failure up to <see cref="MaxBackoff"/>. Default 100 ms.</summary>
    public TimeSpan MinBackoff { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Longest wait between reconnection tries. Default 5 s.</summary>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Called when a connection is established (the server that answered, the revision resumed from).</summary>
    public Action<Uri?, long?>? Connected { get; init; }

    /// <summary>Called when a connection is lost, with the reason; the reader then retries.</summary>
    public Action<Exception>? Lost { get; init; }

    /// <summary>
    /// Follows <paramref name="path"/> (relative, e.g. "v1/watch?service=web"). <paramref name="cursor"/> names the query
    /// parameter that starts the feed after a revision ("from" for the change feed, "after" for the event stream);
    /// <paramref name="from"/> null starts at the server's current revision.
    /// </summary>
    public async IAsyncEnumerable<FeedMessage> FollowAsync(string path, string cursor, long? from, [EnumeratorCancellation] CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var random = _random.Create();
        var backoff = MinBackoff;
        var last = from;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            var messages = new List<FeedMessage>();
            await using var connection = new Connection(this, path, cursor, last);
            Exception? lost = null;
            try
            {
                await connection.OpenAsync(ct).ConfigureAwait(false);
                backoff = MinBackoff;
            }
            catch (Exception ex) when (IsTransient(ex, ct))
            {
                lost = ex;
            }

            while (lost is null)
            {
                FeedMessage? message;
                try
                {
                    message = await connection.NextAsync(ct).ConfigureAwait(false);
                }
                catch (Exception ex) when (IsTransient(ex, ct))
                {
                    lost = ex;
                    break;
                }

                if (message is null)
                {
                    lost = new IOException("the server closed the feed");
                    break;
                }

                last = message.Revision;
                yield return message;
                if (message.Event == "reset")
                {
                    yield break;
                }
            }

            Lost?.Invoke(lost);
            var jittered = TimeSpan.FromTicks((long)(backoff.Ticks * (0.5 + (random.NextDouble() / 2))));
            await Task.Delay(jittered, _time, ct).ConfigureAwait(false);
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
        }
    }

    private static bool IsTransient(Exception ex, CancellationToken ct) =>
        !ct.IsCancellationRequested && ex is HttpRequestException or IOException or OperationCanceledException or TransientFeedException;

    /// <summary>A retryable answer (5xx, 408, 429) while opening the feed.</summary>
    private sealed class TransientFeedException(string message) : Exception(message);

    /// <summary>One HTTP connection to the feed, with its idle watchdog.</summary>
    private sealed class Connection(FeedReader reader, string path, string cursor, long? from) : IAsyncDisposable
    {
        private readonly CancellationTokenSource _idle = new();
        private CancellationTokenSource? _linked;
        private HttpResponseMessage? _response;
        private ITimer? _watchdog;
        private IAsyncEnumerator<SseItem<string>>? _items;
        private long _revision = from ?? 0;

        public async Task OpenAsync(CancellationToken ct)
        {
            var url = from is null ? path : $"{path}{(path.Contains('?', StringComparison.Ordinal) ? '&' : '?')}{cursor}={from.Value.ToString(CultureInfo.InvariantCulture)}";
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(url, UriKind.Relative));
            request.Headers.Accept.ParseAdd("text/event-stream");
            request.Options.Set(HaloHttp.Idempotent, true);
            if (from is not null)
            {
                request.Headers.Add("Last-Event-ID", from.Value.ToString(CultureInfo.InvariantCulture));
            }

            _response = await reader._http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            if (!_response.IsSuccessStatusCode)
            {
                var problem = await HaloApiException.ReadAsync(_response, ct).ConfigureAwait(false);
                if ((int)_response.StatusCode >= 500 || _response.StatusCode is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests)
                {
                    throw new TransientFeedException($"{(int)_response.StatusCode} {problem.Message}");
                }

                throw problem;
            }

            reader.Connected?.Invoke(_response.RequestMessage?.RequestUri, from);
            var stream = await _response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            // Any byte — an event or the server's keep-alive comment — proves the feed alive; silence past the bound does not.
            _watchdog = reader._time.CreateTimer(static s => ((CancellationTokenSource)s!).Cancel(), _idle, reader._idleTimeout, Timeout.InfiniteTimeSpan);
            var watched = new ActivityStream(stream, () => _watchdog.Change(reader._idleTimeout, Timeout.InfiniteTimeSpan));
            _linked = CancellationTokenSource.CreateLinkedTokenSource(ct, _idle.Token);
            _items = SseParser.Create(watched, static (_, data) => Encoding.UTF8.GetString(data)).EnumerateAsync(_linked.Token).GetAsyncEnumerator(_linked.Token);
        }

        public async Task<FeedMessage?> NextAsync(CancellationToken ct)
        {
            try
            {
                if (!await _items!.MoveNextAsync().ConfigureAwait(false))
                {
                    return null;
                }
            }
            catch (OperationCanceledException) when (_idle.IsCancellationRequested && !ct.IsCancellationRequested)
            {
                throw new IOException($"the feed was silent for {reader._idleTimeout.TotalSeconds:0.###}s");
            }

            var item = _items.Current;
            if (long.TryParse(item.EventId, NumberStyles.None, CultureInfo.InvariantCulture, out var revision))
            {
                _revision = revision;
            }

            return new FeedMessage(item.EventType, _revision, item.Data);
        }

        public async ValueTask DisposeAsync()
        {
            if (_items is not null)
            {
                try
                {
                    await _items.DisposeAsync().ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is IOException or OperationCanceledException or HttpRequestException)
                {
                }
            }

            if (_watchdog is not null)
            {
                await _watchdog.DisposeAsync().ConfigureAwait(false);
            }

            _response?.Dispose();
            _linked?.Dispose();
            _idle.Dispose();
        }
    }

    /// <summary>Reports every successful read, so the idle watchdog can be pushed back.</summary>
    private sealed class ActivityStream(Stream inner, Action activity) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var n = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            activity();
            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = inner.Read(buffer, offset, count);
            activity();
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
