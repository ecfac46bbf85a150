using System.Net;
using System.Net.Http.Json;
using Halo.Agent;
using Halo.Agent.Drivers;
using Halo.Client;
using Halo.Core.Failover;
using Halo.Core.Serialization;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Halo.Agent.Tests;

public sealed class GroupAgentTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero)) { AutoAdvanceAmount = TimeSpan.Zero };
    private readonly FakeDriver _db = new();
    private readonly StubServer _server = new();

    private GroupAgent Agent() => new(new AgentOptions { Group = "cache", Member = "r1" }, _db,
        new GroupClient(new HttpClient(_server) { BaseAddress = new Uri("http://127.0.0.1:1/") }), _time, NullLogger.Instance);

    private static Assignment Primary(long epoch, bool renewed = true) =>
        new() { Epoch = epoch, Role = MemberRole.Primary, Primary = "r1", PrimaryAddress = "127.0.0.1:7001", LeaseRenewed = renewed, LeaseTtl = TimeSpan.FromSeconds(2) };

    [Fact]
    public async Task TickAsync_PrimaryWithRenewedLease_PromotesOnce()
    {
        var agent = Agent();
        _server.Next = Primary(1);
        await agent.TickAsync(default);
        await agent.TickAsync(default);
        Assert.Equal(["promote 0"], _db.Calls);
    }

    [Fact]
    public async Task TickAsync_RenewalsStop_FencesOnlyAfterTheRenewDeadline()
    {
        var agent = Agent();
        _server.Next = Primary(1);
        await agent.TickAsync(default);
        _server.Next = null; // the server is unreachable from now on

        _time.Advance(FencingTiming.RenewDeadline(TimeSpan.FromSeconds(2)) - TimeSpan.FromMilliseconds(10));
        await agent.TickAsync(default);
        Assert.DoesNotContain("fence", _db.Calls);

        _time.Advance(TimeSpan.FromMilliseconds(20));
        await agent.TickAsync(default);
        Assert.Equal(["promote 0", "fence"], _db.Calls);
    }

    [Fact]
    public async Task TickAsync_PrimaryReports_HedgedAfterTheOptionThenEveryServerAtOnceFromHalfTheRenewDeadline()
    {
        var agent = Agent();
        _server.Next = Primary(1, renewed: false);
        await agent.TickAsync(default);
        Assert.Null(_server.LastHedge); // not yet a primary: no lease to hurry for

        _server.Next = Primary(1);
        await agent.TickAsync(default);
        Assert.Equal(TimeSpan.FromMilliseconds(200), _server.LastHedge);

        var half = FencingTiming.RenewDeadline(TimeSpan.FromSeconds(2)) / 2;
        _server.Next = Primary(1, renewed: false);
        _time.Advance(half - TimeSpan.FromMilliseconds(10));
        await agent.TickAsync(default);
        Assert.Equal(TimeSpan.FromMilliseconds(200), _server.LastHedge);

        _time.Advance(TimeSpan.FromMilliseconds(10));
        await agent.TickAsync(default);
        Assert.Equal(TimeSpan.Zero, _server.LastHedge);
    }

    [Fact]
    public async Task TickAsync_AnswerWithoutRenewal_DoesNotPromote()
    {
        var agent = Agent();
        _server.Next = Primary(1, renewed: false);
        await agent.TickAsync(default);
        Assert.Empty(_db.Calls);
    }

    [Fact]
    public async Task TickAsync_DatabaseLostInItsEpoch_IsNotPromotedAgainUntilLeadershipMoves()
    {
        var agent = Agent();
        _server.Next = Primary(1);
        await agent.TickAsync(default);
        _db.Up = false;
        await agent.TickAsync(default);
        _db.Up = true;
        _db.Role = MemberRole.Primary;
        _db.Fenced = true; // came back fenced (and possibly empty)
        await agent.TickAsync(default);
        Assert.Equal(["promote 0"], _db.Calls);

        _server.Next = new Assignment { Epoch = 2, Role = MemberRole.Replica, Primary = "r2", PrimaryAddress = "127.0.0.1:7002", LeaseTtl = TimeSpan.FromSeconds(2) };
        await agent.TickAsync(default);
        Assert.Equal(["promote 0", "follow 127.0.0.1:7002"], _db.Calls);
    }

    [Fact]
    public async Task TickAsync_ReportCarriesProbe_ServerSeesOffsetAndRole()
    {
        var agent = Agent();
        _db.Offset = 1234;
        _server.Next = new Assignment { Epoch = 1, Role = MemberRole.Replica, Primary = "r2", PrimaryAddress = "127.0.0.1:7002", LeaseTtl = TimeSpan.FromSeconds(2) };
        await agent.TickAsync(default);
        Assert.Equal((1234L, MemberRole.Replica, "127.0.0.1:7001"), (_server.Last!.Offset, _server.Last.Role, _server.Last.Address));
        Assert.Equal(["follow 127.0.0.1:7002"], _db.Calls);
    }

    [Fact]
    public async Task TickAsync_DatabaseSlowWithinTheGrace_ReportedUpWithoutAnsweringTheRoundThenDownAfterIt()
    {
        var agent = Agent();
        _server.Next = new Assignment { Epoch = 1, Role = MemberRole.Replica, Primary = "r2", PrimaryAddress = "127.0.0.1:7002", LeaseTtl = TimeSpan.FromSeconds(2) };
        _db.Offset = 500;
        await agent.TickAsync(default);
        _server.Next = _server.Next with { Round = 77 }; // the controller asks for final positions
        _db.Slow = true;

        await agent.TickAsync(default);
        Assert.Equal((true, 500L, 0L), (_server.Last!.DbUp, _server.Last.Offset, _server.Last.Round));
        _time.Advance(TimeSpan.FromMilliseconds(900));
        await agent.TickAsync(default);
        Assert.True(_server.Last!.DbUp);

        _time.Advance(TimeSpan.FromMilliseconds(200)); // past the 1 s grace: now it is down
        await agent.TickAsync(default);
        Assert.False(_server.Last!.DbUp);

        _db.Slow = false; // it answers again: a fresh position that answers the round
        await agent.TickAsync(default);
        Assert.Equal((true, 77L), (_server.Last!.DbUp, _server.Last.Round));
    }

    [Fact]
    public async Task TickAsync_PromotedDatabaseFencedWhenTheLeaseLapsed_VouchesForItsEpochUntilItRestarts()
    {
        var agent = Agent();
        _server.Next = Primary(4);
        await agent.TickAsync(default);
        await agent.TickAsync(default);
        Assert.Equal(4L, _server.Last!.PrimaryOfEpoch);

        // Renewals stop (the server answers, the lapsed lease is not renewed): fenced, and the same process still holds epoch 4.
        _server.Next = Primary(4, renewed: false);
        _time.Advance(FencingTiming.RenewDeadline(TimeSpan.FromSeconds(2)) + TimeSpan.FromMilliseconds(10));
        await agent.TickAsync(default);
        await agent.TickAsync(default);
        Assert.Equal((true, 4L), (_server.Last!.Fenced, _server.Last.PrimaryOfEpoch));

        _db.Pid = 2; // restarted between two probes (Redis without persistence would be empty): it vouches for nothing
        await agent.TickAsync(default);
        Assert.Equal(0L, _server.Last!.PrimaryOfEpoch);
    }

    [Theory]
    [InlineData(1, 4)] // the same process answers again: slow, never gone, it still vouches for its epoch
    [InlineData(2, 0)] // another process answers (a restart while it did not answer): it vouches for nothing
    public async Task TickAsync_PrimarySlowPastTheGraceThenAnswersAgain_VouchesOnlyIfTheSameProcess(int pidAfter, long vouched)
    {
        var agent = Agent();
        _server.Next = Primary(4);
        await agent.TickAsync(default);
        await agent.TickAsync(default);
        _db.Slow = true;
        await agent.TickAsync(default);
        _time.Advance(AgentDefaults.ProbeTimeoutGrace + TimeSpan.FromMilliseconds(10));
        await agent.TickAsync(default);
        Assert.False(_server.Last!.DbUp);

        (_db.Slow, _db.Pid) = (false, pidAfter);
        await agent.TickAsync(default);
        Assert.Equal((true, vouched), (_server.Last!.DbUp, _server.Last.PrimaryOfEpoch));
        Assert.Equal(["promote 0"], _db.Calls);
    }

    [Fact]
    public async Task CheckDeadlineAsync_PrimarySlowPastTheGraceWhenItsLeaseLapses_StillFenced()
    {
        var agent = Agent();
        _server.Next = Primary(4);
        await agent.TickAsync(default);
        await agent.TickAsync(default);
        _db.Slow = true; // too slow to answer a probe, maybe not too slow to take writes
        _server.Next = null;
        await agent.TickAsync(default);
        _time.Advance(AgentDefaults.ProbeTimeoutGrace + TimeSpan.FromMilliseconds(10));
        await agent.TickAsync(default);
        await agent.CheckDeadlineAsync(default);
        Assert.DoesNotContain("fence", _db.Calls);

        _time.Advance(FencingTiming.RenewDeadline(TimeSpan.FromSeconds(2)));
        await agent.CheckDeadlineAsync(default);
        Assert.Equal(["promote 0", "fence"], _db.Calls);
    }

    [Fact]
    public async Task TickAsync_FormerPrimaryToldToFollow_NoLongerVouchesForItsEpoch()
    {
        var agent = Agent();
        _server.Next = Primary(4);
        await agent.TickAsync(default);
        _server.Next = new Assignment { Epoch = 5, Role = MemberRole.Replica, Primary = "r2", PrimaryAddress = "127.0.0.1:7002", LeaseTtl = TimeSpan.FromSeconds(2) };
        await agent.TickAsync(default);
        await agent.TickAsync(default);
        Assert.Equal(0L, _server.Last!.PrimaryOfEpoch);
    }

    internal sealed class FakeDriver : IDatabaseDriver
    {
        public bool Slow { get; set; }
        public List<string> Calls { get; } = [];
        public bool Up { get; set; } = true;
        public MemberRole Role { get; set; } = MemberRole.Replica;
        public bool Fenced { get; set; }
        public long Offset { get; set; }
        public string? Following { get; set; }
        public int Pid { get; set; } = 1;

        public string Address => "127.0.0.1:7001";

        public Task<DbProbe> ProbeAsync(CancellationToken ct) =>
            Task.FromResult(Slow ? DbProbe.Down("slow") with { TimedOut = true } : Up ? new DbProbe(true, true, Role, Offset, Fenced, Following, Pid, null) : DbProbe.Down("down"));

        public Task PromoteAsync(int minReplicasToWrite, CancellationToken ct)
        {
            Calls.Add($"promote {minReplicasToWrite}");
            (Role, Fenced) = (MemberRole.Primary, false);
            return Task.CompletedTask;
        }

        public Task FollowAsync(string host, int port, CancellationToken ct)
        {
            Calls.Add($"follow {host}:{port}");
            (Role, Fenced, Following) = (MemberRole.Replica, false, $"{host}:{port}");
            return Task.CompletedTask;
        }

        public Task FenceAsync(CancellationToken ct)
        {
            Calls.Add("fence");
            Fenced = true;
            return Task.CompletedTask;
        }

        public Task<bool> KillAsync(CancellationToken ct) => Task.FromResult(false);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    /// <summary>Answers reports with <see cref="Next"/>, or fails like an unreachable server when it is null.</summary>
    internal sealed class StubServer : HttpMessageHandler
    {
        public Assignment? Next { get; set; }
        public MemberReport? Last { get; private set; }
        public TimeSpan? LastHedge { get; private set; }

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (Next is null)
            {
                throw new HttpRequestException("connection refused");
            }

            Last = await request.Content!.ReadFromJsonAsync<MemberReport>(HaloJson.Options, cancellationToken);
            LastHedge = request.Options.TryGetValue(HaloHttp.HedgeAfter, out var hedge) ? hedge : null;
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = JsonContent.Create(Next, options: HaloJson.Options) };
        }
    }
}
