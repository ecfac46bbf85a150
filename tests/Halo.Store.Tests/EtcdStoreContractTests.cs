namespace Halo.Store.Tests;

/// <summary>The contract against a real etcd process; leases run on real time, so their tests take seconds.</summary>
public sealed class EtcdStoreContractTests(EtcdFixture etcd) : StoreContractTests, IClassFixture<EtcdFixture>
{
    protected override Task<IStore> OpenStoreAsync() => Task.FromResult(etcd.CreateStore());

    protected override Task AdvanceTimeAsync(TimeSpan elapsed) => Task.Delay(elapsed, Ct);

    protected override Task CompactAsync(long revision) => ((EtcdStore)Store).CompactAsync(revision, Ct);

    protected override async Task<IReadOnlyList<string>> WriteUntilKilledAsync(string prefix, int acknowledgementsBeforeKill)
    {
        var acknowledged = new List<string>();
        var enough = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var next = -1;
        var writers = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    var key = $"{prefix}{Interlocked.Increment(ref next):D8}";
                    await Store.PutAsync(key, B(key), cancellationToken: Ct);
                    lock (acknowledged)
                    {
                        acknowledged.Add(key);
                        if (acknowledged.Count >= acknowledgementsBeforeKill)
                        {
                            enough.TrySetResult();
                        }
                    }
                }
            }
            catch (Exception error) when (error is StoreUnavailableException or OperationCanceledException)
            {
                // The kill: writes in flight are simply not acknowledged.
            }
        })).ToArray();

        await enough.Task.WaitAsync(TimeSpan.FromSeconds(60), Ct);
        await etcd.KillAsync();
        await Task.WhenAll(writers).WaitAsync(TimeSpan.FromSeconds(30), Ct);
        lock (acknowledged)
        {
            return [.. acknowledged];
        }
    }

    [Fact]
    public async Task PutAsync_EtcdDown_ThrowsStoreUnavailable()
    {
        await using var store = new EtcdStore(new EtcdStoreOptions { Endpoints = etcd.Endpoint, RequestTimeout = TimeSpan.FromSeconds(2) }, TimeProvider.System);
        await etcd.KillAsync();
        try
        {
            await Assert.ThrowsAsync<StoreUnavailableException>(() => store.PutAsync(P + "a", B("1"), cancellationToken: Ct).WaitAsync(TimeSpan.FromSeconds(20), Ct));
        }
        finally
        {
            await etcd.StartAsync();
        }
    }

    protected override async Task<IStore> RecoverAfterKillAsync()
    {
        await etcd.StartAsync();
        return etcd.CreateStore();
    }
}
