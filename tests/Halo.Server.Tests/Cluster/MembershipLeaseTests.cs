using Halo.Server.Cluster;
using Halo.Server.Tests;
using Halo.Store;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Halo.Server.Tests.Cluster;

/// <summary>
/// The membership lease's fencing rule on a fake clock: a slow or failing etcd is not a reason to fence (every owner's write
/// compares the membership key); proof that the lease is gone is, at once; so is a silence of two TTLs, as a backstop.
/// </summary>
public sealed class MembershipLeaseTests
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(3);

    [Fact]
    public void ShouldFence_SilenceShorterThanTwoTtls_False_ThenTrue()
    {
        var time = new FakeTimeProvider();
        var lease = new MembershipLease(Ttl, time);
        Assert.Equal(TimeSpan.FromSeconds(1), lease.RenewEvery);

        time.Advance(Ttl);
        Assert.True(lease.MayHaveLapsed);
        Assert.False(lease.ShouldFence);

        time.Advance(Ttl - TimeSpan.FromMilliseconds(1));
        Assert.False(lease.ShouldFence);

        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(lease.ShouldFence);
    }

    [Fact]
    public void Acknowledged_CountsFromTheSend_AndNeverGoesBack()
    {
        var time = new FakeTimeProvider();
        var lease = new MembershipLease(Ttl, time);
        time.Advance(TimeSpan.FromSeconds(4));
        var sent = time.GetTimestamp();
        time.Advance(TimeSpan.FromSeconds(2)); // the answer took 2 s: the lease was renewed no earlier than the send
        lease.Acknowledged(sent);
        Assert.Equal(TimeSpan.FromSeconds(2), lease.Silence);

        lease.Acknowledged(sent - 1); // an older try answered late: changes nothing
        Assert.Equal(TimeSpan.FromSeconds(2), lease.Silence);
    }

    [Fact]
    public void Constructor_TtlUnderOneSecond_Throws() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new MembershipLease(TimeSpan.FromMilliseconds(999), new FakeTimeProvider()));

    [Theory]
    [InlineData(RenewalFault.Hang)]
    [InlineData(RenewalFault.Fail)]
    public async Task Renewals_HangOrFail_StaysMemberUntilTwoTtls_ThenFencesAndRejoins(RenewalFault fault)
    {
        await using var rig = await Rig.StartAsync();
        var joined = await rig.WaitForSelfAsync(null);

        rig.Store.Fault = fault;
        // The old rule fenced at two thirds of the TTL; a slow etcd now keeps the server a member until two TTLs have passed.
        await rig.AdvanceAsync(Ttl * 2 - TimeSpan.FromMilliseconds(200));
        Assert.Equal(joined, rig.Membership.Current.Self);
        Assert.True(rig.Store.KeepAlives >= 4, $"renewals went on being tried ({rig.Store.KeepAlives})");

        await rig.AdvanceAsync(TimeSpan.FromMilliseconds(1500));
        Assert.Null(rig.Membership.Current.Self);

        // etcd answers again; the embedded store's lease lapsed meanwhile (fake time), so the server joins with a new token.
        rig.Store.Fault = RenewalFault.None;
        await rig.AdvanceAsync(TimeSpan.FromSeconds(3));
        var rejoined = await rig.WaitForSelfAsync(joined);
        Assert.True(rejoined.CreateRevision > joined.CreateRevision);
    }

    [Fact]
    public async Task Renewal_StoreNoLongerKnowsTheLease_FencesAtOnceAndRejoins()
    {
        await using var rig = await Rig.StartAsync();
        var joined = await rig.WaitForSelfAsync(null);

        await rig.Store.RevokeLeaseAsync(rig.Store.LastLease);
        await rig.AdvanceAsync(TimeSpan.FromMilliseconds(1100)); // one renewal: etcd says the lease is gone
        var rejoined = await rig.WaitForSelfAsync(joined);
        Assert.True(rejoined.CreateRevision > joined.CreateRevision);
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

    private sealed class Rig : IAsyncDisposable
    {
        private readonly string _directory;

        private Rig(string directory, FakeTimeProvider time, ScriptedStore store, ServerMembership membership)
        {
            _directory = directory;
            Time = time;
            Store = store;
            Membership = membership;
        }

        public FakeTimeProvider Time { get; }

        public ScriptedStore Store { get; }

        internal ServerMembership Membership { get; }

        public static async Task<Rig> StartAsync()
        {
            var directory = Path.Combine(Path.GetTempPath(), "halo-membership-tests-" + Guid.NewGuid().ToString("N"));
            var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero)) { AutoAdvanceAmount = TimeSpan.Zero };
            var store = new ScriptedStore(await EmbeddedStore.OpenAsync(directory, new EmbeddedStoreOptions(), time));
            var options = new ServerOptions { Cluster = true, Advertise = "http://127.0.0.1:1/", MemberTtl = Ttl };
            var membership = new ServerMembership(store, options, null!, new StartedLifetime(), time, NullLogger<ServerMembership>.Instance);
            await membership.StartAsync(CancellationToken.None);
            return new Rig(directory, time, store, membership);
        }

        /// <summary>Moves the fake clock in 100 ms steps, letting the membership's loop run after each.</summary>
        public async Task AdvanceAsync(TimeSpan by)
        {
            for (var t = TimeSpan.Zero; t < by; t += TimeSpan.FromMilliseconds(100))
            {
                Time.Advance(TimeSpan.FromMilliseconds(100));
                await Task.Delay(TimeSpan.FromMilliseconds(5), TimeProvider.System);
            }
        }

        /// <summary>Waits (real time, bounded) until this server is a member with a key other than <paramref name="before"/>.</summary>
        internal async Task<Member> WaitForSelfAsync(Member? before)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10), TimeProvider.System);
            while (Membership.Current.Self is not { } self || self == before)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(10), TimeProvider.System, timeout.Token);
                Time.Advance(TimeSpan.FromMilliseconds(100)); // a rejoin after a failed try waits 1 s on the fake clock
            }

            return Membership.Current.Self!;
        }

        public async ValueTask DisposeAsync()
        {
            await Membership.StopAsync(CancellationToken.None);
            Membership.Dispose();
            await Store.DisposeAsync();
            try
            {
                Directory.Delete(_directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
