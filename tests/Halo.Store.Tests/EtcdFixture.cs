using Halo.IntegrationTests.Ha;

namespace Halo.Store.Tests;

/// <summary>
/// A real single-member etcd for the contract tests: the integration tests' <see cref="EtcdCluster"/> with one member
/// (one fixture for starting, killing and restarting etcd, compiled into both test projects).
/// </summary>
public sealed class EtcdFixture : IAsyncLifetime
{
    private EtcdCluster? _cluster;

    public string Endpoint => Cluster.ClientUrl(0);

    private EtcdCluster Cluster => _cluster ?? throw new InvalidOperationException("etcd has not started");

    public async ValueTask InitializeAsync() => _cluster = await EtcdCluster.StartAsync(members: 1);

    public IStore CreateStore() => new EtcdStore(new EtcdStoreOptions { Endpoints = Endpoint }, TimeProvider.System);

    /// <summary>Starts etcd again on its ports and data after <see cref="KillAsync"/>, and waits until it is healthy.</summary>
    public Task StartAsync() => Cluster.RestartAsync(0, TimeSpan.FromSeconds(30));

    /// <summary>SIGKILL, as a crash: etcd gets no chance to flush anything it had not already made durable.</summary>
    public Task KillAsync() => Cluster.KillAsync(0);

    public async ValueTask DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }
}
