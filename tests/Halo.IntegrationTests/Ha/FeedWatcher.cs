using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Text.Json;

namespace Halo.IntegrationTests.Ha;

/// <summary>
/// A change-feed client as the gateway is one: follows /v1/watch from a revision on one server and, when the stream breaks,
/// resumes on the next server from the last revision it saw (Last-Event-ID). Records every change it received, in order.
/// </summary>
public sealed class FeedWatcher : IAsyncDisposable
{
    private readonly IReadOnlyList<Uri> _servers;
    private readonly HttpClient _http = new(new SocketsHttpHandler { UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(1) })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private long _last;

    public FeedWatcher(IReadOnlyList<Uri> servers, long from, int firstServer = 0, string? token = null)
    {
        _http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token ?? HaloProcess.Token);

        _servers = servers;
        _last = from;
        _loop = Task.Run(() => RunAsync(firstServer, _stop.Token));
    }

    /// <summary>Every change received: (revision, type, instance key "service/id").</summary>
    public ConcurrentQueue<(long Revision, string Type, string Key)> Seen { get; } = new();

    /// <summary>Servers the watcher moved away from, with why.</summary>
    public ConcurrentQueue<string> Resumes { get; } = new();

    public long Last => Interlocked.Read(ref _last);

    /// <summary>Reads the whole feed from <paramref name="from"/> up to and including <paramref name="until"/> from one server, in one stream.</summary>
    public static async Task<List<(long Revision, string Type, string Key)>> ReplayAsync(Uri server, long from, long until, TimeSpan timeout, string? token = null)
    {
        using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token ?? HaloProcess.Token);

        using var cts = new CancellationTokenSource(timeout);
        var result = new List<(long, string, string)>();
        if (until <= from)
        {
            return result;
        }

        await foreach (var change in ReadAsync(http, server, from, cts.Token))
        {
            result.Add(change);
            if (change.Revision >= until)
            {
                break;
            }
        }

        return result;
    }

    private async Task RunAsync(int server, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await foreach (var change in ReadAsync(_http, _servers[server], Last, ct))
                {
                    Seen.Enqueue(change);
                    Interlocked.Exchange(ref _last, change.Revision);
                }

                Resumes.Enqueue($"{_servers[server]}: stream ended");
            }
            catch (Exception ex) when (!ct.IsCancellationRequested)
            {
                Resumes.Enqueue($"{_servers[server]}: {ex.Message}");
            }

            server = (server + 1) % _servers.Count;
            await Task.Delay(50, CancellationToken.None);
        }
    }

    private static async IAsyncEnumerable<(long Revision, string Type, string Key)> ReadAsync(
        HttpClient http, Uri server, long after, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(server, "v1/watch"));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        request.Headers.Add("Last-Event-ID", after.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        response.EnsureSuccessStatusCode();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct));
        long id = 0;
        string? type = null, data = null;
        while (await reader.ReadLineAsync(ct) is { } line)
        {
            if (line.Length == 0 && data is not null)
            {
                var body = JsonDocument.Parse(data).RootElement;
                yield return (id, type ?? "message", $"{body.GetProperty("service").GetString()}/{body.GetProperty("id").GetString()}");
                type = data = null;
            }
            else if (line.StartsWith("id: ", StringComparison.Ordinal)) id = long.Parse(line[4..], System.Globalization.CultureInfo.InvariantCulture);
            else if (line.StartsWith("event: ", StringComparison.Ordinal)) type = line[7..];
            else if (line.StartsWith("data: ", StringComparison.Ordinal)) data = line[6..];
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _loop.WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (OperationCanceledException)
        {
        }

        _http.Dispose();
        _stop.Dispose();
    }
}
