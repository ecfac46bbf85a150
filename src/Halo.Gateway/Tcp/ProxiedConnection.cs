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
        var a = SocketCopy.RunAsync(downstream, upstream, cts.Token);
        var b = SocketCopy.RunAsync(upstream, downstream, cts.Token);
        await Task.WhenAny(a, b).ConfigureAwait(false);
        await cts.CancelAsync().ConfigureAwait(false);
        Close();
        await Task.WhenAll(a, b).ConfigureAwait(false);
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
