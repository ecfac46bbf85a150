using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Halo.Gateway.Tcp;

namespace Halo.Chaos;

/// <summary>Which way bytes stop flowing through a <see cref="FaultLink"/>.</summary>
public enum Cut
{
    None,
    /// <summary>Client to target bytes are dropped (requests vanish; answers to what already arrived still flow).</summary>
    ToTarget,
    /// <summary>Target to client bytes are dropped (requests arrive and act; the answers vanish).</summary>
    FromTarget,
    Both,
}

/// <summary>
/// A TCP relay of our own between two processes, that can drop the bytes of one direction or both, as a one-way or two-way
/// network partition (no network namespaces, no root tricks). While cut, connections stay open and bytes are discarded, as
/// a blackholed path looks; when the cut heals, every connection that lost bytes is reset so both ends start clean (a
/// half-delivered request would otherwise corrupt the stream), as a NAT table flushed by a partition would.
/// </summary>
public sealed class FaultLink : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<Pair, byte> _pairs = new();
    private readonly Task _accept;
    private volatile Cut _cut;

    public FaultLink(int targetPort)
    {
        _target = new IPEndPoint(IPAddress.Loopback, targetPort);
        _listener.Start(256);
        _accept = AcceptAsync(_stop.Token);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public Cut Current => _cut;

    /// <summary>Cuts the link (<see cref="Cut.None"/> heals it, resetting every connection that dropped bytes).</summary>
    public void Set(Cut cut)
    {
        _cut = cut;
        if (cut == Cut.None)
        {
            foreach (var pair in _pairs.Keys.Where(p => p.Dropped))
            {
                pair.Reset();
            }
        }
    }

    private async Task AcceptAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = Task.Run(() => RelayAsync(client, ct), CancellationToken.None);
        }
    }

    private async Task RelayAsync(Socket client, CancellationToken ct)
    {
        var target = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        client.NoDelay = true;
        try
        {
            await target.ConnectAsync(_target, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            client.Dispose();
            target.Dispose();
            return;
        }

        var pair = new Pair(client, target);
        _pairs[pair] = 0;
        try
        {
            await Task.WhenAny(CopyAsync(pair, client, target, Cut.ToTarget, ct), CopyAsync(pair, target, client, Cut.FromTarget, ct)).ConfigureAwait(false);
        }
        finally
        {
            _pairs.TryRemove(pair, out _);
            pair.Reset();
        }
    }

    /// <summary>Relays one direction, dropping its bytes while that direction is cut (and remembering that the pair lost some).</summary>
    private Task CopyAsync(Pair pair, Socket from, Socket to, Cut direction, CancellationToken ct) =>
        SocketCopy.RunAsync(from, to, ct, () =>
        {
            var cut = _cut;
            if (cut != direction && cut != Cut.Both)
            {
                return false;
            }

            pair.Dropped = true;
            return true;
        });

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        foreach (var pair in _pairs.Keys)
        {
            pair.Reset();
        }

        await _accept.ConfigureAwait(false);
        _stop.Dispose();
    }

    private sealed class Pair(Socket a, Socket b)
    {
        private int _reset;

        public volatile bool Dropped;

        public void Reset()
        {
            if (Interlocked.Exchange(ref _reset, 1) != 0)
            {
                return;
            }

            foreach (var s in new[] { a, b })
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
}
