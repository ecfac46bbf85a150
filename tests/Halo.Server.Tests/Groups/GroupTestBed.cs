using System.Collections.Immutable;
using System.Diagnostics.Metrics;
using System.Text;
using System.Text.Json;
using Halo.Core.Failover;
using Halo.Core.Serialization;
using Halo.Server;
using Halo.Server.Events;
using Halo.Server.Groups;
using Halo.Store;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Halo.Server.Tests.Groups;

/// <summary>
/// The set-up the group actor tests share (StoreFailedRenewalTests, GroupHandoffTests, DecidedRecordTests; this file is linked
/// into Halo.IntegrationTests): a real embedded store on a fake clock, and in it what a decider left of group "cache": its
/// policy, r1 primary of epoch 1 under a lease with the lease marker attached, three members r1..r3. Actors are made from it
/// with <see cref="NewActor"/>; each has the bed's <see cref="GroupContext"/>, so they share the server's <see cref="GroupLease"/>
/// as actors of one server do (<see cref="NewServer"/> gives a context of another server).
/// </summary>
internal sealed class GroupTestBed : IAsyncDisposable
{
    public const string Group = "cache";
    private readonly string _dir;
    private readonly ServiceProvider _services;

    private GroupTestBed(string dir, ServiceProvider services, FakeTimeProvider time, IStore store, GroupPolicy policy, GroupsOptions options)
    {
        _dir = dir;
        _services = services;
        Time = time;
        Store = store;
        Policy = policy;
        Options = options;
        Context = NewServer();
    }

    public FakeTimeProvider Time { get; }

    public IStore Store { get; }

    public GroupPolicy Policy { get; }

    public GroupsOptions Options { get; }

    /// <summary>What actors made by <see cref="NewActor"/> run with: one server's.</summary>
    public GroupContext Context { get; }

    /// <summary>The leader record the bed wrote: r1, epoch 1.</summary>
    public LeaderRecord Leader { get; private set; } = null!;

    /// <summary>The group as the store holds it after the set-up, with r1 confirmed, as the decider that wrote it knew it.</summary>
    public GroupState Stored { get; private set; } = null!;

    /// <summary>
    /// Starts a bed in a fresh directory under <paramref name="root"/>; <paramref name="wrap"/> may put a scripted store around
    /// the embedded one.
    /// </summary>
    public static async Task<GroupTestBed> StartAsync(string root, GroupsOptions? options = null, Func<IStore, IStore>? wrap = null)
    {
        var dir = Path.Combine(root, "halo-groups-" + Guid.NewGuid().ToString("N"));
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero)) { AutoAdvanceAmount = TimeSpan.Zero };
        var embedded = await EmbeddedStore.OpenAsync(dir, new EmbeddedStoreOptions { LeaseCheckInterval = TimeSpan.FromMilliseconds(20) }, time);
        var store = wrap?.Invoke(embedded) ?? embedded;
        var bed = new GroupTestBed(dir, new ServiceCollection().AddMetrics().BuildServiceProvider(), time, store,
            new GroupPolicy { AntiFlapWindow = TimeSpan.Zero }, options ?? new GroupsOptions());
        await bed.WriteGroupAsync();
        return bed;
    }

    private async Task WriteGroupAsync()
    {
        var policyRevision = await Store.PutAsync(GroupKeys.Policy(Group), JsonSerializer.SerializeToUtf8Bytes(Policy, HaloJson.Options));
        foreach (var m in Members)
        {
            await Store.PutAsync(GroupKeys.Member(Group, m), JsonSerializer.SerializeToUtf8Bytes(new GroupActor.MemberRecord(Address(m)), HaloJson.Options));
        }

        var lease = await Store.GrantLeaseAsync(Policy.LeaseTtl);
        Leader = new LeaderRecord("r1", 1, lease.Id, Time.GetUtcNow(), "bootstrap");
        var records = new StoreLeaderRecords(Store, Group, _ => [TxnOp.Put(GroupKeys.LeaseMarker(Group), Encoding.UTF8.GetBytes("r1"), lease.Id)]);
        Assert.True(await records.TryReplaceAsync(0, Leader));
        Stored = new GroupState
        {
            Name = Group, Policy = Policy, PolicyRevision = policyRevision, Leader = Leader, LeaderRevision = records.LastRevision,
            Members = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, Members.Select(m => KeyValuePair.Create(m, MemberRuntime.New(m, Address(m))))),
            Confirmed = true, Version = 1,
        };
    }

    public static readonly string[] Members = ["r1", "r2", "r3"];

    public static string Address(string member) => $"127.0.0.1:{6000 + member[^1]}";

    /// <summary>A context of another server over the same store: its own <see cref="GroupLease"/> account.</summary>
    public GroupContext NewServer() => new(
        Store, new EventLog(Store, new ServerOptions { DataDirectory = _dir }, Time), Time, Options,
        new GroupMetrics(_services.GetRequiredService<IMeterFactory>()), NullLogger.Instance, () => { }, () => [], new GroupLease(Store));

    /// <summary>An actor of this bed's server holding <paramref name="state"/>; <paramref name="owned"/>: it decides the group already.</summary>
    public GroupActor NewActor(GroupState state, bool owned = true, GroupContext? context = null)
    {
        var actor = new GroupActor(context ?? Context, state);
        if (owned)
        {
            actor.Own();
        }

        return actor;
    }

    /// <summary>The group as the store holds it now, and the store revision it was read at.</summary>
    public async Task<(GroupState State, long Revision)> ReadAsync()
    {
        var listing = await Store.ListAsync(GroupKeys.Of(Group));
        return (GroupRegistry.Build(listing.Items, 0)[Group], listing.Revision);
    }

    /// <summary>A report of <paramref name="member"/> as its agent sends it; the round is the one the actor has open.</summary>
    public static Task<Assignment> ReportAsync(
        GroupActor actor, string member, MemberRole role, long epoch = 1, bool fenced = false, bool failsafe = false, long offset = 100,
        long primaryOfEpoch = 0, bool dbUp = true, long drillDone = 0) =>
        actor.ReportAsync(member, new MemberReport
        {
            Address = Address(member), Role = role, Epoch = epoch, DbUp = dbUp, Healthy = dbUp, Offset = offset, Fenced = fenced, Failsafe = failsafe,
            PrimaryOfEpoch = primaryOfEpoch, Following = role == MemberRole.Replica ? Address("r1") : null, Round = actor.State.Round?.Id ?? 0,
            DrillDone = drillDone,
        }, default);

    /// <summary>Steps the clock until the store has expired the primary's lease (its timer runs on the store's own thread), bounded.</summary>
    public async Task LeaseLapsedAsync()
    {
        for (var i = 0; i < 200 && (await Store.GetAsync(GroupKeys.LeaseMarker(Group))).Item is not null; i++)
        {
            Time.Advance(TimeSpan.FromMilliseconds(20));
            await Task.Delay(TimeSpan.FromMilliseconds(20), TimeProvider.System);
        }

        Assert.Null((await Store.GetAsync(GroupKeys.LeaseMarker(Group))).Item);
    }

    public async ValueTask DisposeAsync()
    {
        await Store.DisposeAsync();
        await _services.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }
}
