using System.Diagnostics.Metrics;
using System.Text.Json;
using Halo.Core.Detection;
using Halo.Core.Registry;
using Halo.Core.Serialization;
using Halo.Server.Cluster;
using Halo.Server.Events;
using Halo.Server.Registry;
using Halo.Server.Telemetry;
using Halo.Store;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Halo.Server.Tests.Cluster;

/// <summary>
/// The membership fence on an owner's verdicts (<see cref="MembershipView.Fence"/>): a clustered server that owns a service
/// (the only member, so it owns everything) publishes a health transition, records a brake event and removes an instance
/// while its membership key stands; once its key is deleted, or re-created by someone else (a new create revision), behind
/// its back - the server has not seen it on its feed, so it still believes it owns the service - none of those writes lands,
/// neither the instance's change nor its event. Embedded store, fake clock.
/// </summary>
public sealed class OwnerFenceTests : IAsyncLifetime
{
    private const string Service = "orders";
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero)) { AutoAdvanceAmount = TimeSpan.Zero };
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "halo-owner-fence-" + Guid.NewGuid().ToString("N"));
    private ServiceProvider _services = null!;
    private IStore _store = null!;
    private ServerMembership _membership = null!;
    private InstanceRegistry _registry = null!;

    public enum KeyFate
    {
        Intact,
        Deleted,
        Recreated,
    }

    public async ValueTask InitializeAsync()
    {
        _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        _store = await EmbeddedStore.OpenAsync(_dir, new EmbeddedStoreOptions(), _time);
        var options = new ServerOptions { Cluster = true, Advertise = "http://127.0.0.1:1/", DataDirectory = _dir };
        _membership = new ServerMembership(_store, options, null!, new StartedLifetime(), _time, NullLogger<ServerMembership>.Instance);
        _registry = new InstanceRegistry(
            _store, new EventLog(_store, options, _time), new ChangeIndex(), new RegistryMetrics(_services.GetRequiredService<IMeterFactory>()),
            options, _membership, null!, _time, NullLogger<InstanceRegistry>.Instance);
        await _membership.StartAsync(CancellationToken.None);

        // Joining runs on the membership's own loop; bounded in real time. The fake clock is not moved, so no renewal runs.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10), TimeProvider.System);
        while (_membership.Current.Self is null)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(10), TimeProvider.System, timeout.Token);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _membership.StopAsync(CancellationToken.None);
        _membership.Dispose();
        await _store.DisposeAsync();
        await _services.DisposeAsync();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Theory]
    [InlineData(KeyFate.Intact)]
    [InlineData(KeyFate.Deleted)]
    [InlineData(KeyFate.Recreated)]
    public async Task OwnersVerdicts_LandOnlyWhileTheMembershipKeyHasItsJoinRevision(KeyFate fate)
    {
        var ct = TestContext.Current.CancellationToken;
        var self = _membership.Current.Self!;
        var (record, created) = await _registry.RegisterAsync(
            new InstanceRecord { Service = Service, Id = "i-1", Address = "127.0.0.1", Port = 8080 }, ct);
        Assert.True(created);
        Assert.True(_membership.Current.Owns(Service));
        Assert.Single(_membership.Current.Fence);

        var key = ClusterKeys.Server(self.Id);
        var stored = await _store.GetAsync(key, ct);
        Assert.Equal(self.CreateRevision, stored.Item!.CreateRevision);
        switch (fate)
        {
            case KeyFate.Deleted:
                Assert.Equal(1L, (await _store.DeleteAsync(key, cancellationToken: ct)).Deleted);
                break;
            case KeyFate.Recreated:
                Assert.Equal(1L, (await _store.DeleteAsync(key, cancellationToken: ct)).Deleted);
                await _store.PutAsync(key, stored.Item.Value, cancellationToken: ct);
                Assert.NotEqual(self.CreateRevision, (await _store.GetAsync(key, ct)).Item!.CreateRevision);
                break;
        }

        // Nothing told the membership (no feed runs here): it still believes it owns the service, as a paused server would.
        Assert.Equal(self, _membership.Current.Self);
        Assert.True(_membership.Current.Owns(Service));
        var eventsBefore = await EventKeysAsync(ct);

        var published = await _registry.PublishHealthAsync(
            new HealthChange(record, HealthStatus.Critical, "missed heartbeats", new Dictionary<string, object?> { ["missed"] = 3 }), ct);
        var afterPublish = await ReadInstanceAsync(ct);
        await _registry.RecordAsync(
            new RegistryEvent { Type = EventTypes.BrakeEngaged, Time = _time.GetUtcNow(), Service = Service, Cause = "test brake" }, ct);
        var recordedEvents = await EventKeysAsync(ct);
        var removed = await _registry.RemoveAsync(afterPublish ?? record, ct);
        var afterRemove = await ReadInstanceAsync(ct);
        var events = await EventKeysAsync(ct);

        if (fate == KeyFate.Intact)
        {
            Assert.True(published);
            Assert.Equal(HealthStatus.Critical, afterPublish!.Health);
            Assert.Contains(recordedEvents, k => k.Type == EventTypes.Health);
            Assert.Contains(recordedEvents, k => k.Type == EventTypes.BrakeEngaged);
            Assert.True(removed);
            Assert.Null(afterRemove);
            Assert.Equal(eventsBefore.Count + 3, events.Count);
        }
        else
        {
            Assert.False(published);
            Assert.Equal(HealthStatus.Passing, afterPublish!.Health);
            Assert.Equal(record.Revision, afterPublish.Revision);
            Assert.False(removed);
            Assert.NotNull(afterRemove);
            Assert.Equal(eventsBefore, events);
            Assert.Equal(HealthStatus.Passing, Assert.Single(_registry.Entries(Service)).Record.Health);
        }
    }

    private async Task<InstanceRecord?> ReadInstanceAsync(CancellationToken ct)
    {
        var got = await _store.GetAsync(RegistryKeys.Instance(Service, "i-1"), ct);
        return got.Item is { } kv ? InstanceRegistry.ReadRecord(kv) : null;
    }

    private async Task<List<(string Key, string Type)>> EventKeysAsync(CancellationToken ct)
    {
        var listing = await _store.ListAsync(RegistryKeys.EventsPrefix, ct);
        return listing.Items
            .Select(kv => (kv.Key, JsonSerializer.Deserialize<RegistryEvent>(kv.Value.Span, HaloJson.Options)!.Type))
            .OrderBy(e => e.Key, StringComparer.Ordinal).ToList();
    }

    private sealed class StartedLifetime : IHostApplicationLifetime
    {
        public CancellationToken ApplicationStarted => new(canceled: true);

        public CancellationToken ApplicationStopping => CancellationToken.None;

        public CancellationToken ApplicationStopped => CancellationToken.None;

        public void StopApplication()
        {
        }
    }
}
