using System.Security.Cryptography;
using System.Text.Json;
using Halo.Core.Serialization;
using Halo.Server.Telemetry;
using Halo.Store;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Halo.Server.Cluster;

/// <summary>
/// This server's place among the servers sharing a store: one key per server under cluster/servers/ on the server's own
/// lease (kept alive every third of its TTL), the others' keys as the store's feed reports them, and the resulting
/// <see cref="MembershipView"/>. Renewals cost etcd no raft write; only joining and leaving do.
/// </summary>
/// <remarks>
/// Self-fencing: this server stops owning anything when its key is provably gone (etcd no longer knows the lease, or the
/// feed shows the key deleted) or, as a backstop, after <see cref="MembershipLease.Backstop"/> TTLs without an acknowledged
/// renewal; a merely slow etcd does not fence it, because every write it makes as an owner compares its membership key
/// (<see cref="MembershipLease"/> says why). A lease etcd no longer knows makes it join again with a new key, hence a new
/// fencing token. A single server (embedded store) owns everything.
/// </remarks>
internal sealed partial class ServerMembership(
    IStore store, ServerOptions options, IServer server, IHostApplicationLifetime lifetime, TimeProvider time, ILogger<ServerMembership> logger)
    : BackgroundService
{
    private static readonly TimeSpan RetryAfter = TimeSpan.FromSeconds(1);

    // While the store is down joining fails every second; the outage is told in two lines, not one per retry.
    private readonly StoreOutageLog _outage = new(StoreOutageLog.Describe(options), logger, time);
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Member> _members = new(StringComparer.Ordinal);
    private MembershipView _current = options.Cluster ? new MembershipView([], null, clustered: true, 0) : MembershipView.Single;
    private Member? _self;
    private long _leaseId;
    private long _revision;

    /// <summary>This server's id in the membership: random per process, so a restarted server is a new member with a new fencing token.</summary>
    public string Id { get; } = "s-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));

    public MembershipView Current => Volatile.Read(ref _current);

    /// <summary>
    /// Loads the members the store holds now (start-up, or after the feed was compacted away); returns the listing's revision
    /// (<see cref="long.MaxValue"/> for a single server, which has nothing to follow).
    /// </summary>
    public async Task<long> LoadAsync(CancellationToken cancellationToken)
    {
        if (!options.Cluster)
        {
            return long.MaxValue;
        }

        var listing = await store.ListAsync(ClusterKeys.ServersPrefix, cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            _members.Clear();
            foreach (var kv in listing.Items)
            {
                if (Parse(kv) is { } m)
                {
                    _members[m.Id] = m;
                }
            }

            _revision = listing.Revision;
            PublishLocked();
        }

        return listing.Revision;
    }

    /// <summary>Applies a change under cluster/servers/ from the store's feed.</summary>
    public void Apply(WatchEvent change)
    {
        if (!options.Cluster)
        {
            return;
        }

        lock (_gate)
        {
            var id = change.Item.Key[ClusterKeys.ServersPrefix.Length..];
            if (change.Type == WatchEventType.Delete)
            {
                _members.Remove(id);
                if (_self is { } self && self.Id == id)
                {
                    // Our key is gone (lease expired while we were cut off): fence now, and rejoin with a new token.
                    _self = null;
                    LogFenced(Id, "its membership key was deleted");
                }
            }
            else if (Parse(change.Item) is { } m)
            {
                _members[m.Id] = m;
            }

            _revision = Math.Max(_revision, change.Item.ModRevision);
            PublishLocked();
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Cluster)
        {
            return;
        }

        // Peers forward heartbeats here, so join only once the server listens.
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
        {
            await started.Task.WaitAsync(stoppingToken).ConfigureAwait(false);
        }

        var url = new Uri(options.Advertise ?? server.Features.Get<IServerAddressesFeature>()!.Addresses.First());
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await JoinAsync(url, stoppingToken).ConfigureAwait(false);
                _outage.Answered();
                if (!await KeepAsync(new MembershipLease(options.MemberTtl, time), stoppingToken).ConfigureAwait(false))
                {
                    // The lease lives but our key was deleted (a restore that wiped the keyspace): join afresh.
                    await store.RevokeLeaseAsync(Interlocked.Exchange(ref _leaseId, 0), stoppingToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (StoreUnavailableException ex)
            {
                _outage.Failed(ex);
                await Task.Delay(RetryAfter, time, stoppingToken).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                LogJoinFailed(ex.Message);
                await Task.Delay(RetryAfter, time, stoppingToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Renews the membership lease until it is gone (returns true: join again) or our key is (returns false). The fencing rule is
    /// <see cref="MembershipLease"/>'s: a late renewal is only a warning; proof of loss or the backstop fences.
    /// </summary>
    private async Task<bool> KeepAsync(MembershipLease lease, CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(lease.RenewEvery, time);
        var late = false;
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            var sent = time.GetTimestamp();
            bool alive;
            try
            {
                // One try lasts at most until the next is due, so a renewal stuck behind a busy etcd never holds up the next.
                using var attempt = new CancellationTokenSource(lease.RenewEvery, time);
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, attempt.Token);
                alive = await store.KeepAliveAsync(Volatile.Read(ref _leaseId), linked.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                if (lease.ShouldFence)
                {
                    Fence($"no lease renewal acknowledged for {lease.Silence.TotalSeconds:0.0} s ({ex.Message})");
                }
                else if (lease.MayHaveLapsed && !late)
                {
                    late = true;
                    LogRenewalLate(Id, lease.Silence.TotalSeconds, ex.Message);
                }

                continue;
            }

            if (!alive)
            {
                Fence("the store no longer knows its lease");
                return true;
            }

            lease.Acknowledged(sent);
            late = false;
            if (!Unfence())
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Leaves at once on a clean shutdown: revoking the lease hands this server's services to the others without waiting for the TTL.</summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        var lease = Interlocked.Exchange(ref _leaseId, 0);
        if (lease != 0)
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2), time);
                await store.RevokeLeaseAsync(lease, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is StoreUnavailableException or OperationCanceledException)
            {
                // The lease expires by itself within its TTL.
            }
        }
    }

    private async Task JoinAsync(Uri url, CancellationToken cancellationToken)
    {
        var lease = await store.GrantLeaseAsync(options.MemberTtl, cancellationToken).ConfigureAwait(false);
        var key = ClusterKeys.Server(Id);
        var value = JsonSerializer.SerializeToUtf8Bytes(new MemberRecord(Id, url.ToString(), time.GetUtcNow()), HaloJson.Options);
        // Create only: a key that already exists belongs to an incarnation whose token we must not inherit.
        var result = await store.TxnAsync(new TxnRequest([Compare.Missing(key)], [TxnOp.Put(key, value, lease.Id)], []), cancellationToken)
            .ConfigureAwait(false);
        if (!result.Succeeded)
        {
            await store.RevokeLeaseAsync(lease.Id, cancellationToken).ConfigureAwait(false);
            throw new InvalidOperationException($"membership key {key} already exists");
        }

        Volatile.Write(ref _leaseId, lease.Id);
        var self = new Member(Id, url, result.Revision);
        lock (_gate)
        {
            _self = self;
            _members[Id] = self;
            _revision = Math.Max(_revision, result.Revision);
            PublishLocked();
        }

        LogJoined(Id, url, result.Revision, lease.Ttl);
    }

    private void Fence(string reason)
    {
        lock (_gate)
        {
            if (_self is null)
            {
                return;
            }

            _self = null;
            PublishLocked();
        }

        LogFenced(Id, reason);
    }

    /// <summary>Restores membership after a fence once a renewal succeeds; false when our key is gone.</summary>
    private bool Unfence()
    {
        lock (_gate)
        {
            if (_self is not null)
            {
                return true;
            }

            if (!_members.TryGetValue(Id, out var mine))
            {
                return false;
            }

            _self = mine;
            PublishLocked();
        }

        LogUnfenced(Id);
        return true;
    }

    private void PublishLocked()
    {
        var members = _members.Values
            // While fenced this server is not a candidate for anything, though its key may still stand.
            .Where(m => _self is not null || m.Id != Id)
            .OrderBy(m => m.Id, StringComparer.Ordinal).ToList();
        Volatile.Write(ref _current, new MembershipView(members, _self, clustered: true, _revision));
    }

    private static Member? Parse(KeyValue kv)
    {
        try
        {
            return JsonSerializer.Deserialize<MemberRecord>(kv.Value.Span, HaloJson.Options) is { Id: { } id, Url: { } url } && Uri.TryCreate(url, UriKind.Absolute, out var uri)
                ? new Member(id, uri, kv.CreateRevision)
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private sealed record MemberRecord(string Id, string Url, DateTimeOffset StartedAt);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "Joined the servers as {Id} at {Url} (fencing revision {Revision}, lease TTL {Ttl})")]
    private partial void LogJoined(string id, Uri url, long revision, TimeSpan ttl);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Error, Message = "Server {Id} fenced itself: {Reason}; it owns nothing until it renews or rejoins")]
    private partial void LogFenced(string id, string reason);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "Server {Id} renewed its lease again and owns its share once more")]
    private partial void LogUnfenced(string id);

    [LoggerMessage(EventId = 3032, Level = LogLevel.Warning, Message = "Server {Id}: no lease renewal acknowledged for {Seconds:0.0} s ({Reason}); its lease may lapse, still owning its share (its writes compare its membership key)")]
    private partial void LogRenewalLate(string id, double seconds, string reason);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Warning, Message = "Joining the servers failed ({Reason}); retrying in 1 s")]
    private partial void LogJoinFailed(string reason);
}
