using System.Net.Sockets;

namespace Halo.Gateway.Tcp;

/// <summary>One client connection and its database connection, tagged with the epoch whose primary it reached.</summary>
internal sealed class ProxiedConnection(long epoch, Socket downstream, Socket upstream)
{
    private int _closed;

    public long Epoch { get; } = epoch;

    public async Task PumpAsync(CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var a = CopyAsync(downstream, upstream, cts.Token);
        var b = CopyAsync(upstream, downstream, cts.Token);
        await Task.WhenAny(a, b).ConfigureAwait(false);
        await cts.CancelAsync().ConfigureAwait(false);
        Close();
        await Task.WhenAll(a, b).ConfigureAwait(false);
    }

    private static async Task CopyAsync(Socket from, Socket to, CancellationToken ct)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer, SocketFlags.None, ct).ConfigureAwait(false);
                if (read == 0)
                {
                    return;
                }

                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, ct).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    public void Close()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        // Reset rather than a graceful close: a client must see the old primary's connection fail, not a clean EOF it may retry on.
        foreach (var s in new[] { downstream, upstream })
        {
            try
            {
                s.LingerState = new LingerOption(true, 0);
                s.Close();
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }
}
