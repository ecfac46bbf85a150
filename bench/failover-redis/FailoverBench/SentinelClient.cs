using System.Globalization;
using Halo.Agent.Drivers;

namespace FailoverBench;

/// <summary>
/// The bench's Sentinel-aware client, as prompt as Redis' Sentinel client spec allows: on every (re)connect it asks every sentinel
/// for the master at once (short timeouts), tries the answers most sentinels gave first, and takes the first one whose ROLE says
/// master (spec step 3). So it follows the elected sentinel the moment that sentinel reports the promoted replica, without waiting
/// for the others to learn it from hello messages, and never writes to a node that is not a master.
/// </summary>
internal sealed class SentinelClient(int[] sentinelPorts, string masterName)
{
    /// <summary>
    /// failover-timeout for the bench's sentinels: short, so a failed election is retried soon (after twice this) and the election
    /// itself times out sooner (min(10 s, this)); long enough for reconfiguring the one remaining replica on this machine.
    /// </summary>
    public const int FailoverTimeoutMs = 3000;

    private static readonly TimeSpan Connect = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan Reply = TimeSpan.FromMilliseconds(500);

    /// <summary>Where writes go now: the first address the sentinels report (most-reported first) that answers ROLE as a master.</summary>
    public async Task<(string, int)> ResolveAsync(CancellationToken ct)
    {
        foreach (var (address, _) in await AnswersAsync(ct))
        {
            try
            {
                await using var c = await RespConnection.ConnectAsync(address.Item1, address.Item2, Connect, ct);
                if (await c.ExecuteAsync(Reply, ct, "ROLE") is object?[] { Length: > 0 } role && role[0] is "master")
                {
                    return address;
                }
            }
            catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or OperationCanceledException or InvalidOperationException)
            {
            }
        }

        throw new IOException("no sentinel reports a reachable master");
    }

    /// <summary>The master a majority of the sentinels report (the bench's view of "the failover is done", not the client's).</summary>
    public async Task<(string, int)> MajorityAsync(CancellationToken ct) =>
        (await AnswersAsync(ct)).FirstOrDefault(a => a.Count > sentinelPorts.Length / 2) is { Count: > 0 } majority
            ? majority.Address
            : throw new IOException("no sentinel majority");

    private async Task<List<((string, int) Address, int Count)>> AnswersAsync(CancellationToken ct)
    {
        var answers = await Task.WhenAll(sentinelPorts.Select(async port =>
        {
            try
            {
                await using var c = await RespConnection.ConnectAsync("127.0.0.1", port, Connect, ct);
                return await c.ExecuteAsync(Reply, ct, "SENTINEL", "get-master-addr-by-name", masterName) is object?[] { Length: 2 } reply &&
                       reply[0] is string host && reply[1] is string p
                    ? (host, int.Parse(p, CultureInfo.InvariantCulture))
                    : ((string, int)?)null;
            }
            catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or OperationCanceledException or InvalidOperationException)
            {
                return null;
            }
        }));
        return [.. answers.OfType<(string, int)>().GroupBy(a => a).Select(g => (g.Key, g.Count())).OrderByDescending(g => g.Item2)];
    }
}
