using System.Net.Http.Headers;

namespace Halo.Client;

/// <summary>
/// Sends each call to the server that last answered and moves down the list when it cannot: a connection that cannot be
/// made, no answer within <see cref="HaloClientOptions.AttemptTimeout"/>, or a 5xx. The rule for sending the same call
/// again: a request that never reached a server (connect or name failure) is always retried on the next server; one that
/// may have reached it (5xx, broken response, attempt timeout) only when it is idempotent — GET, HEAD, PUT, DELETE, or
/// marked with <see cref="HaloHttp.Idempotent"/> (heartbeats, reports). Otherwise its answer is returned and the next
/// call goes to the next server. Adds <c>Authorization: Bearer</c> when the options carry a token.
/// </summary>
public sealed class ServerFailoverHandler : DelegatingHandler
{
    private readonly HaloClientOptions _options;
    private readonly TimeProvider _time;
    private readonly AuthenticationHeaderValue? _authorization;
    private int _current;

    /// <summary>Creates the handler; <paramref name="options"/> must be valid.</summary>
    public ServerFailoverHandler(HaloClientOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.EnsureValid();
        _time = time;
        _authorization = options.Token is { } token ? new AuthenticationHeaderValue("Bearer", token) : null;
    }

    /// <summary>The server calls go to now (the last one that answered).</summary>
    public Uri CurrentServer => _options.Servers[Volatile.Read(ref _current)];

    /// <summary>The configured servers, in order.</summary>
    public IReadOnlyList<Uri> Servers => _options.Servers;

    /// <summary>Raised when calls move from one server to another (old, new, why).</summary>
    public event Action<Uri, Uri, string>? Moved;

    /// <inheritdoc />
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var relative = Relative(request.RequestUri);
        if (_authorization is not null && request.Headers.Authorization is null)
        {
            request.Headers.Authorization = _authorization;
        }

        var idempotent = IsIdempotent(request);
        if (idempotent && relative is not null && _options.Servers.Count > 1 && request.Options.TryGetValue(HaloHttp.HedgeAfter, out var hedge))
        {
            return await SendHedgedAsync(request, relative, hedge, cancellationToken).ConfigureAwait(false);
        }

        var attemptTimeout = _options.AttemptTimeout + (request.Options.TryGetValue(HaloHttp.LongPoll, out var wait) ? wait : TimeSpan.Zero);
        var servers = _options.Servers;
        var start = Volatile.Read(ref _current);
        for (var n = 0; ; n++)
        {
            var index = (start + n) % servers.Count;
            var last = n == servers.Count - 1;
            request.RequestUri = relative is null ? request.RequestUri : new Uri(servers[index], relative);
            // The last server left gets the whole call's budget: with nowhere else to go, giving up early helps nobody.
            using var attempt = last ? new CancellationTokenSource() : new CancellationTokenSource(attemptTimeout, _time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, attempt.Token);
            HttpResponseMessage response;
            try
            {
                response = await base.SendAsync(request, linked.Token).ConfigureAwait(false);
            }
            catch (HttpRequestException ex) when (!cancellationToken.IsCancellationRequested)
            {
                var neverSent = ex.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError;
                MoveOff(index, ex.Message);
                if (last || !(neverSent || idempotent))
                {
                    throw;
                }

                continue;
            }
            catch (OperationCanceledException) when (attempt.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                MoveOff(index, $"no answer within {attemptTimeout.TotalSeconds:0.###}s");
                if (last || !idempotent)
                {
                    throw new HttpRequestException(HttpRequestError.Unknown, $"{servers[index]} did not answer within {attemptTimeout.TotalSeconds:0.###}s");
                }

                continue;
            }

            if ((int)response.StatusCode < 500)
            {
                Interlocked.Exchange(ref _current, index);
                return response;
            }

            MoveOff(index, $"{(int)response.StatusCode} {response.ReasonPhrase}");
            if (last || !idempotent)
            {
                return response;
            }

            response.Dispose();
        }
    }

    /// <summary>
    /// Sends copies of <paramref name="request"/> down the server list, the next one when none has answered within
    /// <paramref name="hedge"/> or as soon as one fails; the first answer below 500 wins and is remembered. Attempts are not
    /// cut off one by one (a slow answer may still win); the caller's token bounds the call.
    /// </summary>
    private async Task<HttpResponseMessage> SendHedgedAsync(HttpRequestMessage request, string relative, TimeSpan hedge, CancellationToken cancellationToken)
    {
        var body = request.Content is null ? null : await request.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        var servers = _options.Servers;
        var start = Volatile.Read(ref _current);
        using var all = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var running = new List<(Task<HttpResponseMessage> Task, int Index, HttpRequestMessage Copy)>();
        var launched = 0;
        HttpResponseMessage? failed = null;
        Exception? error = null;
        try
        {
            while (true)
            {
                if (running.Count == 0 || (launched < servers.Count && hedge <= TimeSpan.Zero))
                {
                    if (launched == servers.Count)
                    {
                        break;
                    }

                    var index = (start + launched++) % servers.Count;
                    var copy = Copy(request, new Uri(servers[index], relative), body);
                    running.Add((base.SendAsync(copy, all.Token), index, copy));
                    continue;
                }

                using var timer = CancellationTokenSource.CreateLinkedTokenSource(all.Token);
                var wait = launched < servers.Count ? Task.Delay(hedge, _time, timer.Token) : Task.Delay(Timeout.InfiniteTimeSpan, _time, timer.Token);
                var done = await Task.WhenAny(running.Select(r => (Task)r.Task).Append(wait)).ConfigureAwait(false);
                await timer.CancelAsync().ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
                if (done == wait)
                {
                    var index = (start + launched++) % servers.Count;
                    var copy = Copy(request, new Uri(servers[index], relative), body);
                    running.Add((base.SendAsync(copy, all.Token), index, copy));
                    continue;
                }

                var finished = running.Single(r => r.Task == done);
                running.Remove(finished);
                HttpResponseMessage response;
                try
                {
                    response = await finished.Task.ConfigureAwait(false);
                }
                catch (HttpRequestException ex) when (!cancellationToken.IsCancellationRequested)
                {
                    MoveOff(finished.Index, ex.Message);
                    error = ex;
                    finished.Copy.Dispose();
                    continue;
                }

                if ((int)response.StatusCode < 500)
                {
                    Interlocked.Exchange(ref _current, finished.Index);
                    failed?.Dispose();
                    return response;
                }

                MoveOff(finished.Index, $"{(int)response.StatusCode} {response.ReasonPhrase}");
                failed?.Dispose();
                failed = response;
            }
        }
        finally
        {
            // The losers are cancelled; whatever they still return is thrown away.
            await all.CancelAsync().ConfigureAwait(false);
            foreach (var (task, _, copy) in running)
            {
                _ = task.ContinueWith(static (t, c) =>
                {
                    if (t.IsCompletedSuccessfully)
                    {
                        t.Result.Dispose();
                    }

                    ((HttpRequestMessage)c!).Dispose();
                }, copy, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }
        }

        return failed ?? throw (error ?? new HttpRequestException("no server answered"));
    }

    private static HttpRequestMessage Copy(HttpRequestMessage request, Uri uri, byte[]? body)
    {
        var copy = new HttpRequestMessage(request.Method, uri) { Version = request.Version, VersionPolicy = request.VersionPolicy };
        foreach (var header in request.Headers)
        {
            copy.Headers.TryAddWithoutValidation(header.Key, header.Value);
        }

        if (body is not null)
        {
            copy.Content = new ByteArrayContent(body);
            foreach (var header in request.Content!.Headers)
            {
                copy.Content.Headers.TryAddWithoutValidation(header.Key, header.Value);
            }
        }

        return copy;
    }

    private void MoveOff(int index, string why)
    {
        var servers = _options.Servers;
        var next = (index + 1) % servers.Count;
        if (servers.Count > 1 && Interlocked.CompareExchange(ref _current, next, index) == index)
        {
            Moved?.Invoke(servers[index], servers[next], why);
        }
    }

    /// <summary>The part of the URL after the server base, so the same call can be sent to any server; null for a foreign URL.</summary>
    private string? Relative(Uri? uri)
    {
        if (uri is null || !uri.IsAbsoluteUri)
        {
            return uri?.OriginalString;
        }

        var text = uri.AbsoluteUri;
        foreach (var server in _options.Servers)
        {
            if (text.StartsWith(server.AbsoluteUri, StringComparison.Ordinal))
            {
                return text[server.AbsoluteUri.Length..];
            }
        }

        // An absolute path ("/v1/catalog") on one of the servers: same path on whichever server is used.
        foreach (var server in _options.Servers)
        {
            if (Uri.Compare(server, uri, UriComponents.SchemeAndServer, UriFormat.UriEscaped, StringComparison.OrdinalIgnoreCase) == 0)
            {
                return uri.PathAndQuery;
            }
        }

        return null;
    }

    private static bool IsIdempotent(HttpRequestMessage request) =>
        request.Options.TryGetValue(HaloHttp.Idempotent, out var marked) ? marked
        : request.Method == HttpMethod.Get || request.Method == HttpMethod.Head || request.Method == HttpMethod.Put || request.Method == HttpMethod.Delete;
}
