using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client.Configuration;
using Halo.Store.Etcd;

namespace Halo.Store;

/// <summary>
/// The contract on etcd v3 (3.4 and later) for multi-node control planes. Calls go straight to etcd's gRPC
/// services through dotnet-etcd's connection, so each contract operation is exactly one etcd request
/// and revisions, leases and watch history are etcd's own.
/// </summary>
public sealed partial class EtcdStore : IStore
{
    private readonly EtcdClient _client;
    private readonly KV.KVClient _kv;
    private readonly Etcdserverpb.Lease.LeaseClient _lease;
    private readonly Watch.WatchClient _watch;
    private readonly EtcdClient[] _keepAliveClients;
    private readonly Etcdserverpb.Lease.LeaseClient[] _keepAlive;
    private readonly TimeProvider _time;
    private readonly TimeSpan _timeout;
    private readonly EtcdAttempts _attempts;

    /// <summary>etcd's "require a leader" request header: a member that knows no leader refuses at once instead of proposing.</summary>
    private static readonly Metadata RequireLeader = [new("hasleader", "true")];

    /// <summary>The channel's reconnect back-off after a failed connect to a member: from 250 ms up to 1 s (see CreateClient).</summary>
    internal static readonly (TimeSpan Initial, TimeSpan Max) ReconnectBackoff = (TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(1));

    /// <summary>The largest etcd response read (a whole prefix in one range): 512 MB, far above any control plane's state.</summary>
    private const int MaxResponseBytes = 512 * 1024 * 1024;

    public EtcdStore(EtcdStoreOptions options, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        options.Validate();
        _client = CreateClient(options, string.Join(',', EtcdStoreOptions.ParseEndpoints(options.Endpoints).Select(e => e.GetLeftPart(UriPartial.Authority))));
        _keepAliveClients = CreateKeepAliveClients(options);
        _keepAlive = [.. _keepAliveClients.Select(c => c.GetConnection().LeaseClient)];
        var connection = _client.GetConnection();
        _kv = connection.KVClient;
        _lease = connection.LeaseClient;
        _watch = connection.WatchClient;
        _time = timeProvider;
        _timeout = options.RequestTimeout;
        _attempts = new EtcdAttempts(timeProvider, options.RequestTimeout, options.AttemptTimeout);
    }

    /// <summary>
    /// The client for the options: plain, with TLS (trusted CA, client certificate) or with etcd's user authentication.
    /// TLS together with user authentication is not offered by dotnet-etcd's constructors; it is refused by
    /// <see cref="EtcdStoreOptions.Validate"/> rather than silently dropping one of them.
    /// </summary>
    private static EtcdClient CreateClient(EtcdStoreOptions options, string endpoints)
    {
        if (options.ConfigureTls is { } tls)
        {
            return new EtcdClient(endpoints, tls, configureChannelOptions: Common);
        }

        return options.Username is { Length: > 0 } user
            ? new EtcdClient(endpoints, user, options.Password!, configureChannelOptions: Plain)
            : new EtcdClient(endpoints, configureChannelOptions: Plain);

        static void Plain(Grpc.Net.Client.GrpcChannelOptions o)
        {
            o.Credentials = ChannelCredentials.Insecure;
            Common(o);
        }

        static void Common(Grpc.Net.Client.GrpcChannelOptions o)
        {
            // gRPC's default 4 MB receive limit fails a list of ~20,000 instances (a server's start-up load, the catalog, a
            // snapshot) with ResourceExhausted; etcd itself caps requests, not responses.
            o.MaxReceiveMessageSize = MaxResponseBytes;
            o.ServiceConfig = OneAttemptPerCall();

            // While a member is down the channel fails every call at once and reconnects on its own schedule; gRPC's default
            // schedule (1 s, x1.6 per failed connect, up to 2 min) had grown to gaps of ~10-17 s after a 20 s etcd outage, so
            // writes kept failing ~16 s after etcd answered again (issue 9). Capped at 1 s, the channel is back within about a
            // second (+-20% jitter); a refused connect per second and channel costs nothing while etcd is down.
            o.InitialReconnectBackoff = ReconnectBackoff.Initial;
            o.MaxReconnectBackoff = ReconnectBackoff.Max;
        }
    }

    /// <summary>
    /// Round robin over the members, without gRPC's own retries: dotnet-etcd's channel repeats every call that fails
    /// Unavailable (up to 5 times, 1 s backoff), transactions included, whether or not etcd may have applied it; repetition
    /// is decided per request by <see cref="EtcdAttempts"/> instead, inside the request's budget.
    /// </summary>
    private static ServiceConfig OneAttemptPerCall() => new() { LoadBalancingConfigs = { new RoundRobinConfig() } };

    public Task<GetResult> GetAsync(string key, CancellationToken cancellationToken = default) =>
        Run(async options =>
        {
            var response = await _kv.RangeAsync(new RangeRequest { Key = EtcdMapping.Key(key) }, options);
            return new GetResult(response.Kvs.Count > 0 ? EtcdMapping.ToKeyValue(response.Kvs[0]) : null, response.Header.Revision);
        }, EtcdRepeat.Safe, 0, cancellationToken);

    public Task<RangeResult> ListAsync(string prefix, CancellationToken cancellationToken = default) =>
        Run(async options =>
        {
            var (key, end) = EtcdMapping.Prefix(prefix);
            var request = new RangeRequest { Key = key, RangeEnd = end, SortOrder = RangeRequest.Types.SortOrder.Ascend, SortTarget = RangeRequest.Types.SortTarget.Key };
            var response = await _kv.RangeAsync(request, options);
            return new RangeResult(response.Kvs.Select(EtcdMapping.ToKeyValue).ToList(), response.Header.Revision);
        }, EtcdRepeat.Safe, 0, cancellationToken);

    public Task<long> PutAsync(string key, ReadOnlyMemory<byte> value, long leaseId = 0, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        var request = new PutRequest { Key = EtcdMapping.Key(key), Value = ByteString.CopyFrom(value.Span), Lease = leaseId };
        return Run(async options => (await _kv.PutAsync(request, options)).Header.Revision, EtcdRepeat.IfNotApplied, leaseId, cancellationToken);
    }

    public Task<DeleteResult> DeleteAsync(string key, bool prefix = false, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (!prefix)
        {
            ArgumentException.ThrowIfNullOrEmpty(key);
        }

        var request = new DeleteRangeRequest { Key = EtcdMapping.Key(key) };
        if (prefix)
        {
            (request.Key, request.RangeEnd) = EtcdMapping.Prefix(key);
        }

        // Not repeated on an unknown fate: a second delete would report 0 deleted for a key the first one deleted.
        return Run(async options =>
        {
            var response = await _kv.DeleteRangeAsync(request, options);
            return new DeleteResult(response.Deleted, response.Header.Revision);
        }, EtcdRepeat.IfNotApplied, 0, cancellationToken);
    }

    public Task<TxnResult> TxnAsync(Halo.Store.TxnRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var (txn, marker) = EtcdIdempotency.Build(request);
        var leaseId = request.Success.Concat(request.Failure).FirstOrDefault(o => o.LeaseId != 0)?.LeaseId ?? 0;
        return Run(
            async options => EtcdIdempotency.Read(await _kv.TxnAsync(txn, options), marker),
            EtcdIdempotency.Repeat(request, marker), leaseId, cancellationToken);
    }

    public Task<Halo.Store.Lease> GrantLeaseAsync(TimeSpan ttl, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(ttl, TimeSpan.FromSeconds(1));
        var seconds = (long)Math.Ceiling(ttl.TotalSeconds);
        // Not repeated on an unknown fate: the first grant would be a lease nobody renews (harmless, it expires, but a leak).
        return Run(async options =>
        {
            var response = await _lease.LeaseGrantAsync(new LeaseGrantRequest { TTL = seconds }, options);
            if (!string.IsNullOrEmpty(response.Error))
            {
                throw new StoreUnavailableException("etcd: " + response.Error);
            }

            // etcd may grant more than asked (its minimum TTL is about 1.5 election timeouts).
            return new Halo.Store.Lease(response.ID, TimeSpan.FromSeconds(response.TTL));
        }, EtcdRepeat.IfNotApplied, 0, cancellationToken);
    }

    /// <summary>Revokes a lease and deletes its keys. Revoking an unknown lease does nothing.</summary>
    public Task RevokeLeaseAsync(long leaseId, CancellationToken cancellationToken = default) =>
        // Safe to repeat: revoking a lease already revoked answers NotFound, the outcome wanted.
        Run(async options =>
        {
            try
            {
                await _lease.LeaseRevokeAsync(new LeaseRevokeRequest { ID = leaseId }, options);
            }
            catch (RpcException error) when (error.StatusCode == StatusCode.NotFound)
            {
                // Already gone (expired or revoked): the outcome the caller wanted.
            }

            return true;
        }, EtcdRepeat.Safe, 0, cancellationToken);

    public Task<long> GetRevisionAsync(CancellationToken cancellationToken = default) =>
        Run(async options => (await _kv.RangeAsync(new RangeRequest { Key = ByteString.CopyFrom(0), CountOnly = true }, options)).Header.Revision,
            EtcdRepeat.Safe, 0, cancellationToken);

    /// <summary>etcd's Compact: history before <paramref name="revision"/> goes; the revision itself stays watchable.</summary>
    public Task CompactAsync(long revision, CancellationToken cancellationToken = default) =>
        // Not repeated on an unknown fate: compacting a revision already compacted is an error.
        Run(async options => await _kv.CompactAsync(new CompactionRequest { Revision = revision, Physical = true }, options), EtcdRepeat.IfNotApplied, 0, cancellationToken);

    public ValueTask DisposeAsync()
    {
        _client.Dispose();
        foreach (var client in _keepAliveClients)
        {
            client.Dispose();
        }

        return ValueTask.CompletedTask;
    }

    private CallOptions Options(CancellationToken cancellationToken) =>
        new(deadline: _time.GetUtcNow().UtcDateTime + _timeout, cancellationToken: cancellationToken);

    /// <summary>One unary request in attempts (<see cref="EtcdAttempts"/>), its errors translated to the contract's.</summary>
    private Task<T> Run<T>(Func<CallOptions, Task<T>> call, EtcdRepeat repeat, long leaseId, CancellationToken cancellationToken) =>
        Call(
            () => _attempts.RunAsync((deadline, token) => call(new CallOptions(RequireLeader, deadline, token)), repeat, cancellationToken),
            leaseId, cancellationToken);

    private static Task<T> Call<T>(Func<Task<T>> call, CancellationToken cancellationToken) => Call(call, 0, cancellationToken);

    private static async Task<T> Call<T>(Func<Task<T>> call, long leaseId, CancellationToken cancellationToken)
    {
        try
        {
            return await call();
        }
        catch (OperationCanceledException error) when (!cancellationToken.IsCancellationRequested)
        {
            // The caller did not cancel, so the call's deadline ended it: a retrying gRPC call has surfaced a passed deadline this way
            // instead of as DeadlineExceeded (EtcdStoreContractTests with etcd killed, on a loaded machine).
            throw new StoreUnavailableException("etcd did not answer in time", error);
        }
        catch (RpcException error)
        {
            throw EtcdMapping.Translate(error, leaseId);
        }
        catch (HttpRequestException error)
        {
            throw new StoreUnavailableException("etcd unreachable: " + error.Message, error);
        }
    }
}
