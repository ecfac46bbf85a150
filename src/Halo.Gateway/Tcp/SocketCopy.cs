using System.Net.Sockets;

namespace Halo.Gateway.Tcp;

/// <summary>
/// The one copy loop for relaying a TCP connection: bytes from one socket to the other until the sender closes, the token
/// fires or either socket fails. The TCP proxy uses it as is; bench/chaos's fault link passes <c>discard</c> to drop what a
/// cut direction carries (asked once per chunk read).
/// </summary>
public static class SocketCopy
{
    public static async Task RunAsync(Socket from, Socket to, CancellationToken ct, Func<bool>? discard = null)
    {
        ArgumentNullException.ThrowIfNull(from);
        ArgumentNullException.ThrowIfNull(to);
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

                if (discard?.Invoke() == true)
                {
                    continue;
                }

                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, ct).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The other end went away, or the relay is being closed: either way this direction is done.
        }
    }
}
