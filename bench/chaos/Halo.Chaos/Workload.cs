using System.Collections.Concurrent;
using System.Globalization;
using Halo.Agent.Drivers;

namespace Halo.Chaos;

/// <summary>
/// Concurrent writers through the TCP proxy: each write is a unique key and value, SET then WAIT 1, paced to a steady rate.
/// Each new connection first asks CLIENT INFO which server it reached (its local port names the member), so every answer is
/// attributed to a member. Outcomes follow <see cref="WriteOutcome"/>: an answer lost after the SET was sent is indeterminate.
/// </summary>
public sealed class Workload(int proxyPort, IReadOnlyDictionary<int, string> memberByPort, int writers, TimeSpan pace, TimeProvider time)
{
    public const string Prefix = "chaos:";
    private readonly ConcurrentQueue<WriteRecord> _records = new();
    private long _next;

    public IReadOnlyList<WriteRecord> Records => _records.ToList();

    public Task RunAsync(CancellationToken ct) => Task.WhenAll(Enumerable.Range(0, writers).Select(i => WriterAsync(i, ct)));

    private async Task WriterAsync(int writer, CancellationToken ct)
    {
        RespConnection? connection = null;
        string? member = null;
        while (!ct.IsCancellationRequested)
        {
            if (connection is null)
            {
                (connection, member) = await ConnectAsync(ct).ConfigureAwait(false);
                if (connection is null)
                {
                    await PauseAsync(TimeSpan.FromMilliseconds(5), ct).ConfigureAwait(false);
                    continue;
                }
            }

            var id = Interlocked.Increment(ref _next);
            var key = Prefix + id.ToString(CultureInfo.InvariantCulture);
            var start = time.GetUtcNow();
            WriteOutcome outcome;
            string? detail = null;
            var sent = false;
            try
            {
                sent = true;
                var set = await connection.ExecuteAsync(TimeSpan.FromSeconds(1), ct, "SET", key, writer.ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
                if (set is RespError refused)
                {
                    (outcome, detail) = (WriteOutcome.Failed, refused.Message);
                }
                else
                {
                    var wait = await connection.ExecuteAsync(TimeSpan.FromSeconds(1), ct, "WAIT", "1", "500").ConfigureAwait(false);
                    (outcome, detail) = wait is long n && n >= 1 ? (WriteOutcome.Acked, null) : (WriteOutcome.Indeterminate, $"WAIT answered {wait}");
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                _records.Enqueue(new WriteRecord(id, writer, member, start, time.GetUtcNow(), WriteOutcome.Indeterminate, "stopped"));
                break;
            }
            catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or OperationCanceledException or InvalidOperationException or FormatException)
            {
                (outcome, detail) = (sent ? WriteOutcome.Indeterminate : WriteOutcome.Failed, ex.Message);
                await connection.DisposeAsync().ConfigureAwait(false);
                connection = null;
            }

            _records.Enqueue(new WriteRecord(id, writer, member, start, time.GetUtcNow(), outcome, detail));
            await PauseAsync(outcome == WriteOutcome.Acked ? pace : TimeSpan.FromMilliseconds(5), ct).ConfigureAwait(false);
        }

        if (connection is not null)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task<(RespConnection?, string?)> ConnectAsync(CancellationToken ct)
    {
        RespConnection? c = null;
        try
        {
            c = await RespConnection.ConnectAsync("127.0.0.1", proxyPort, TimeSpan.FromMilliseconds(500), time, ct).ConfigureAwait(false);
            // The proxy holds a new connection until it has a confirmed primary; CLIENT INFO tells which server it reached.
            var info = await c.ExecuteAsync(TimeSpan.FromSeconds(1), ct, "CLIENT", "INFO").ConfigureAwait(false) as string ?? "";
            var laddr = info.Split(' ').FirstOrDefault(f => f.StartsWith("laddr=", StringComparison.Ordinal))?["laddr=".Length..];
            var port = laddr is null ? -1 : int.Parse(laddr[(laddr.LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture);
            return (c, memberByPort.TryGetValue(port, out var m) ? m : $"port {port}");
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or OperationCanceledException or InvalidOperationException or FormatException)
        {
            if (c is not null)
            {
                await c.DisposeAsync().ConfigureAwait(false);
            }

            return (null, null);
        }
    }

    private async Task PauseAsync(TimeSpan delay, CancellationToken ct)
    {
        try
        {
            await Task.Delay(delay, time, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Which of <paramref name="ids"/> a server holds (MGET in chunks).</summary>
    public static async Task<HashSet<long>> PresentAsync(int port, IEnumerable<long> ids, TimeProvider time, CancellationToken ct)
    {
        await using var c = await RespConnection.ConnectAsync("127.0.0.1", port, TimeSpan.FromSeconds(2), time, ct).ConfigureAwait(false);
        var present = new HashSet<long>();
        foreach (var chunk in ids.Chunk(1000))
        {
            var reply = await c.ExecuteAsync(TimeSpan.FromSeconds(10), ct, ["MGET", .. chunk.Select(id => Prefix + id.ToString(CultureInfo.InvariantCulture))]).ConfigureAwait(false);
            if (reply is not object?[] values)
            {
                throw new IOException($"MGET answered {reply}");
            }

            present.UnionWith(chunk.Where((_, i) => values[i] is not null));
        }

        return present;
    }
}
