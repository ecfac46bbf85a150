using System.Globalization;
using Halo.Agent.Drivers;

namespace Halo.Agent.Drills;

/// <summary>
/// A steady stream of numbered SETs through one address (a TCP proxy or a Sentinel-resolved primary); see <see cref="WriteLoad{TConnection}"/>.
/// Used by drills, tests and the bench. With <c>waitReplicas</c> &gt; 0 a write counts as acknowledged only after WAIT confirms that
/// many replicas have it.
/// </summary>
public sealed class RedisWriteLoad(
    Func<CancellationToken, Task<(string Host, int Port)>> resolve, int waitReplicas = 0, string prefix = "halo:drill:", TimeProvider? time = null)
    : WriteLoad<RespConnection>(time)
{
    protected override Task<RespConnection> ConnectAsync(CancellationToken ct) => ConnectAsync(TimeSpan.FromMilliseconds(500), ct);

    private async Task<RespConnection> ConnectAsync(TimeSpan timeout, CancellationToken ct)
    {
        var (host, port) = await resolve(ct).ConfigureAwait(false);
        return await RespConnection.ConnectAsync(host, port, timeout, Time, ct).ConfigureAwait(false);
    }

    private string _refusal = "refused";
    private string _refusalDetail = "refused";

    protected override string RefusalReason => _refusal;

    protected override string RefusalDetail => _refusalDetail;

    protected override async Task<bool> WriteAsync(RespConnection connection, long id, CancellationToken ct)
    {
        var reply = await connection.ExecuteAsync(TimeSpan.FromSeconds(1), ct, "SET", Key(id), "1").ConfigureAwait(false);
        if (reply is not "OK")
        {
            // Redis' first word (NOREPLICAS, READONLY, ...): a fenced primary refuses, a slow one times out.
            _refusal = reply is RespError error ? $"refused {error.Message.Split(' ')[0]}" : "refused";
            _refusalDetail = $"SET answered {(reply is RespError e ? e.Message : reply?.ToString() ?? "nil")}";
            return false;
        }

        _refusal = $"WAIT {waitReplicas} not met";
        if (waitReplicas == 0)
        {
            return true;
        }

        var waited = await connection.ExecuteAsync(TimeSpan.FromSeconds(1), ct, "WAIT", waitReplicas.ToString(CultureInfo.InvariantCulture), "500").ConfigureAwait(false);
        _refusalDetail = $"WAIT {waitReplicas} 500 answered {(waited is RespError we ? we.Message : waited?.ToString() ?? "nil")}";
        return waited is long acks && acks >= waitReplicas;
    }

    protected override bool IsWriteFailure(Exception ex) =>
        ex is IOException or System.Net.Sockets.SocketException or OperationCanceledException or InvalidOperationException;

    protected override async Task<IReadOnlyList<long>> MissingAsync(IReadOnlyList<long> acked, CancellationToken ct)
    {
        // The read-back is one request at the end of a run: a slower connect is fine, a spurious failure is not.
        await using var connection = await ConnectAsync(TimeSpan.FromSeconds(2), ct).ConfigureAwait(false);
        var lost = new List<long>();
        foreach (var chunk in acked.Chunk(500))
        {
            var reply = await connection.ExecuteAsync(TimeSpan.FromSeconds(5), ct, ["MGET", .. chunk.Select(Key)]).ConfigureAwait(false);
            lost.AddRange(reply is object?[] values ? chunk.Where((_, i) => values[i] is null) : chunk);
        }

        return lost;
    }

    private string Key(long id) => prefix + id.ToString(CultureInfo.InvariantCulture);
}
