using System.Collections.Concurrent;
using System.Net.Sockets;
using Halo.Core.Cluster;
using Halo.Store;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Halo.Server.Cluster;

/// <summary>
/// Removes a dead server from the membership before its lease expires, on evidence of its death: a call to it failed, and
/// then its address refused <see cref="Refusals"/> connections in a row over at least <see cref="Span"/>
/// (<see cref="DeathEvidence"/>). Its key is deleted only if it is still the incarnation that was suspected (same create
/// revision), so its groups and services move to the others at once instead of after the membership TTL. Safe whatever the
/// verdict: every owner's write compares its own membership key (<see cref="MembershipView.Fence"/>), so a server whose key
/// was deleted can no longer write a leadership or health change, and it rejoins with a new key when it sees the deletion.
/// </summary>
internal sealed partial class PeerEviction(ServerMembership membership, IStore store, IHostApplicationLifetime lifetime, TimeProvider time, ILogger<PeerEviction> logger)
{
    /// <summary>Refused connections in a row that prove a peer dead.</summary>
    public const int Refusals = 3;

    /// <summary>The least time those refusals must span: a process that is restarting on its port has this long to come back.</summary>
    public static readonly TimeSpan Span = TimeSpan.FromMilliseconds(200);

    /// <summary>How often a suspected peer is probed.</summary>
    public static readonly TimeSpan ProbeEvery = TimeSpan.FromMilliseconds(100);

    /// <summary>How long a suspected peer is probed before the suspicion is dropped (the next failed call raises it again).</summary>
    public static readonly TimeSpan GiveUpAfter = TimeSpan.FromSeconds(3);

    private readonly ConcurrentDictionary<string, byte> _probing = new(StringComparer.Ordinal);

    /// <summary>
    /// A call to <paramref name="peer"/> failed with <paramref name="error"/> (any transport failure or timeout): probe the peer.
    /// Only the probe's refused connections count as evidence, so suspecting a peer that is merely slow costs a few connects.
    /// A kill -9 first shows as a reset of the calls in flight on pooled connections, not as a refused connect; waiting for a
    /// fresh connection to be refused delayed the probe.
    /// </summary>
    public void Suspect(Member peer, Exception error)
    {
        if (error is not (HttpRequestException or OperationCanceledException) || membership.Current.Self?.Id == peer.Id ||
            !_probing.TryAdd(peer.Id, 0))
        {
            return;
        }

        _ = ProbeAsync(peer, lifetime.ApplicationStopping);
    }

    private async Task ProbeAsync(Member peer, CancellationToken ct)
    {
        try
        {
            var evidence = new DeathEvidence(Refusals, Span, time);
            var started = time.GetTimestamp();
            while (time.GetElapsedTime(started) < GiveUpAfter && membership.Current.Members.Any(m => m.Id == peer.Id))
            {
                await Task.Delay(ProbeEvery, time, ct).ConfigureAwait(false);
                var refused = await ConnectRefusedAsync(peer.Url, ct).ConfigureAwait(false);
                if (refused == false)
                {
                    evidence.Accepted();
                }
                else if (refused == true && evidence.Refused())
                {
                    await EvictAsync(peer, ct).ConfigureAwait(false);
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            LogProbeFailed(peer.Id, ex.Message);
        }
        finally
        {
            _probing.TryRemove(peer.Id, out _);
        }
    }

    /// <summary>True when the peer's address refused a connection, false when it accepted one, null when neither is known (timeout, name failure).</summary>
    private async Task<bool?> ConnectRefusedAsync(Uri url, CancellationToken ct)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(500), time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
        try
        {
            await socket.ConnectAsync(url.Host, url.Port, linked.Token).ConfigureAwait(false);
            return false;
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
        {
            return true;
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            return null;
        }
    }

    private async Task EvictAsync(Member peer, CancellationToken ct)
    {
        var key = ClusterKeys.Server(peer.Id);
        var result = await store.TxnAsync(new TxnRequest(
            [new Compare(key, CompareTarget.CreateRevision, CompareOp.Equal, peer.CreateRevision)], [TxnOp.Delete(key)], []), ct).ConfigureAwait(false);
        if (result.Succeeded)
        {
            LogEvicted(peer.Id, peer.Url, Refusals, Span.TotalMilliseconds);
        }
    }

    [LoggerMessage(EventId = 3030, Level = LogLevel.Warning, Message = "Server {Id} at {Url} removed from the membership: it refused {Refusals} connections in a row over {SpanMs} ms (its process is gone); its share moves to the others now")]
    private partial void LogEvicted(string id, Uri url, int refusals, double spanMs);

    [LoggerMessage(EventId = 3031, Level = LogLevel.Warning, Message = "Probing server {Id} failed: {Reason}")]
    private partial void LogProbeFailed(string id, string reason);
}
