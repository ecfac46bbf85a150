using Microsoft.Extensions.Time.Testing;

namespace Halo.Store.Tests;

/// <summary>The contract against <see cref="EmbeddedStore"/> in a fresh temporary directory, with a fake clock for leases.</summary>
public sealed class EmbeddedStoreContractTests : StoreContractTests
{
    private readonly TempDirectory _directory = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private string? _crashDirectory;

    protected override async Task<IStore> OpenStoreAsync() =>
        await EmbeddedStore.OpenAsync(_directory.Path, new EmbeddedStoreOptions(), _time, cancellationToken: Ct);

    protected override Task AdvanceTimeAsync(TimeSpan elapsed)
    {
        _time.Advance(elapsed);
        return Task.CompletedTask;
    }

    protected override Task CompactAsync(long revision) => ((EmbeddedStore)Store).CompactAsync(revision, Ct);

    protected override async Task<IReadOnlyList<string>> WriteUntilKilledAsync(string prefix, int acknowledgementsBeforeKill)
    {
        // A different directory: this test's own store holds the lock on its directory.
        _crashDirectory = System.IO.Path.Combine(_directory.Path, "crash");
        return await CrashWriter.RunAndKillAsync(_crashDirectory, prefix, acknowledgementsBeforeKill);
    }

    protected override async Task<IStore> RecoverAfterKillAsync() =>
        await EmbeddedStore.OpenAsync(_crashDirectory!, new EmbeddedStoreOptions(), TimeProvider.System, cancellationToken: Ct);

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        _directory.Dispose();
    }
}
