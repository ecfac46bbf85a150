using System.Collections.Concurrent;
using System.Net.Http.Json;
using Halo.Core.Serialization;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Halo.Server.Cluster;

/// <summary>
/// Carries heartbeats that reach a server which does not judge their service to the server that does, batched per owner
/// every <see cref="FlushEvery"/>: at 20,000 heartbeats a second over three servers that is about 20 requests a second per
/// pair of servers, not 13,000. Each heartbeat travels with its age (time since it was received here), never a wall-clock
/// time, so clock skew between servers cannot make one look fresher or staler than it is. Only the latest heartbeat of an
/// instance waits per owner, so memory is bounded by the number of instances; a batch that cannot be delivered is dropped
/// (the owner's grace period, or the instance's next heartbeat, covers it).
/// </summary>
internal sealed partial class HeartbeatForwarder(
    IHttpClientFactory httpClients, ServerMembership membership, PeerEviction eviction, TimeProvider time, ILogger<HeartbeatForwarder> logger)
    : BackgroundService
{
    public const string HttpClientName = "halo-peers";

    /// <summary>How long a forwarded heartbeat may wait to be batched. It adds to detection only at handoff; see docs/ha.md.</summary>
    public static readonly TimeSpan FlushEvery = TimeSpan.FromMilliseconds(50);

    private readonly ConcurrentDictionary<string, Outbox> _outboxes = new(StringComparer.Ordinal);
    private long _lastFailureLog;

    /// <summary>A batch of heartbeats from one server to the owner of their services.</summary>
    public sealed record Batch(string? From, List<Item>? Heartbeats);

    /// <summary>One heartbeat: which instance, and how many milliseconds before sending it was received.</summary>
    public sealed record Item(string? Service, string? Id, long AgeMs);

    /// <summary>Queues a heartbeat for <paramref name="owner"/>; a newer heartbeat of the same instance replaces a waiting one.</summary>
    public void Enqueue(Member owner, string service, string id)
    {
        var outbox = _outboxes.GetOrAdd(owner.Id, static (_, o) => new Outbox(o), owner);
        outbox.Pending[(service, id)] = time.GetTimestamp();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(FlushEvery, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                await FlushAsync(stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Sends every waiting batch, in parallel per owner. Public to tests.</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        var view = membership.Current;
        var sends = new List<Task>();
        foreach (var (ownerId, outbox) in _outboxes)
        {
            if (outbox.Pending.IsEmpty)
            {
                continue;
            }

            var pending = outbox.Swap();
            if (!view.Members.Any(m => m.Id == ownerId))
            {
                // The owner left: its services have new owners, which the next heartbeats will find.
                _outboxes.TryRemove(new KeyValuePair<string, Outbox>(ownerId, outbox));
                continue;
            }

            var now = time.GetTimestamp();
            var items = pending.Select(p => new Item(p.Key.Service, p.Key.Id, (long)time.GetElapsedTime(p.Value, now).TotalMilliseconds)).ToList();
            sends.Add(SendAsync(outbox.Owner, new Batch(view.Self?.Id, items), cancellationToken));
        }

        await Task.WhenAll(sends).ConfigureAwait(false);
    }

    /// <summary>
    /// Hands a caller's report to the owner of its instance and returns the owner's answer (status and JSON body), so the
    /// caller sees the owner's verdict. Reports are rare (one per gateway per instance per window), so they go at once.
    /// </summary>
    public async Task<(int Status, string Body)> ForwardReportAsync(Member owner, string service, string id, object report, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2), time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(owner.Url, $"v1/services/{Uri.EscapeDataString(service)}/instances/{Uri.EscapeDataString(id)}/reports"))
        {
            Content = JsonContent.Create(report, options: HaloJson.Options),
        };
        request.Headers.Add(ForwardedHeader, membership.Current.Self?.Id ?? "unknown");
        using var response = await httpClients.CreateClient(HttpClientName).SendAsync(request, linked.Token).ConfigureAwait(false);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(linked.Token).ConfigureAwait(false));
    }

    /// <summary>Marks a request one server forwarded to another, so it is never forwarded again (no loops while views disagree).</summary>
    public const string ForwardedHeader = "X-Halo-Forwarded-By";

    private async Task SendAsync(Member owner, Batch batch, CancellationToken cancellationToken)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2), time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
            using var response = await httpClients.CreateClient(HttpClientName)
                .PostAsJsonAsync(new Uri(owner.Url, "v1/internal/heartbeats"), batch, HaloJson.Options, linked.Token).ConfigureAwait(false);
            response.EnsureSuccessStatusCode();
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            eviction.Suspect(owner, ex);
            // At most one line a second: a dead owner fails every batch until its lease expires.
            var last = Interlocked.Read(ref _lastFailureLog);
            if (time.GetElapsedTime(last) >= TimeSpan.FromSeconds(1) && Interlocked.CompareExchange(ref _lastFailureLog, time.GetTimestamp(), last) == last)
            {
                LogForwardFailed(batch.Heartbeats!.Count, owner.Id, owner.Url, ex.Message);
            }
        }
    }

    private sealed class Outbox(Member owner)
    {
        private ConcurrentDictionary<(string Service, string Id), long> _pending = new();

        public Member Owner { get; } = owner;

        public ConcurrentDictionary<(string Service, string Id), long> Pending => Volatile.Read(ref _pending);

        /// <summary>Takes what waits and leaves an empty box; a heartbeat racing the swap lands in either, never lost twice.</summary>
        public ConcurrentDictionary<(string Service, string Id), long> Swap() => Interlocked.Exchange(ref _pending, new());
    }

    [LoggerMessage(EventId = 3101, Level = LogLevel.Warning, Message = "Could not forward {Count} heartbeats to {Owner} at {Url}: {Reason}")]
    private partial void LogForwardFailed(int count, string owner, Uri url, string reason);
}
