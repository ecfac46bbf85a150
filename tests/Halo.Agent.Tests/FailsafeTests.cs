using System.Net;
using System.Net.Http.Json;
using Halo.Agent;
using Halo.Client;
using Halo.Core.Failover;
using Halo.Core.Serialization;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Halo.Agent.Tests;

/// <summary>The failsafe between two real agents (their promise endpoint over HTTP on 127.0.0.1), servers stubbed, time faked.</summary>
public sealed class FailsafeTests : IAsyncLifetime
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(2);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero)) { AutoAdvanceAmount = TimeSpan.Zero };
    private readonly GroupAgentTests.FakeDriver _primaryDb = new();
    private readonly GroupAgentTests.FakeDriver _replicaDb = new() { Following = "127.0.0.1:7001" };
    private readonly GroupAgentTests.StubServer _primaryServer = new();
    private readonly GroupAgentTests.StubServer _replicaServer = new();
    private FailsafeListener _listener = null!;
    private GroupAgent _primary = null!;
    private GroupAgent _replica = null!;
    // When set, the replica's endpoint holds each promise request until it completes (a slow answer).
    private TaskCompletionSource? _answerGate;
    private readonly TaskCompletionSource _requestArrived = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async ValueTask InitializeAsync()
    {
        GroupAgent? replica = null;
        _listener = await FailsafeListener.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), async r =>
        {
            if (_answerGate is { } gate)
            {
                _requestArrived.TrySetResult();
                await gate.Task;
            }

            return await replica!.AnswerPromiseAsync(r);
        }, default);
        _replica = replica = Agent("r2", _replicaDb, _replicaServer, _listener.Address);
        _primary = Agent("r1", _primaryDb, _primaryServer, null);
    }

    public async ValueTask DisposeAsync() => await _listener.DisposeAsync();

    private GroupAgent Agent(string member, GroupAgentTests.FakeDriver db, GroupAgentTests.StubServer server, string? failsafeAddress) =>
        new(new AgentOptions { Group = "cache", Member = member, Failsafe = true, FailsafeAddress = failsafeAddress }, db,
            new GroupClient(new HttpClient(server) { BaseAddress = new Uri("http://127.0.0.1:1/") }), _time, NullLogger.Instance);

    private Assignment PrimaryAssignment(long epoch = 1, bool renewed = true, long failsafeEpoch = 1) => new()
    {
        Epoch = epoch, Role = MemberRole.Primary, Primary = "r1", PrimaryAddress = "127.0.0.1:7001", LeaseRenewed = renewed, LeaseTtl = Ttl,
        FailsafePeers = new Dictionary<string, string> { ["r2"] = _listener.Address }, FailsafeEpoch = failsafeEpoch, FailsafeMembers = ["r2"],
    };

    private static Assignment ReplicaAssignment(long epoch = 1, long round = 0) =>
        new() { Epoch = epoch, Role = MemberRole.Replica, Primary = "r1", PrimaryAddress = "127.0.0.1:7001", LeaseTtl = Ttl, Round = round };

    /// <summary>The primary renewed and writes, the replica follows it, then no server answers either of them.</summary>
    private async Task StartThenLoseTheServersAsync(long failsafeEpoch = 1)
    {
        _primaryServer.Next = PrimaryAssignment(failsafeEpoch: failsafeEpoch);
        await _primary.TickAsync(default);
        await _primary.TickAsync(default);
        _replicaServer.Next = ReplicaAssignment();
        await _replica.TickAsync(default);
        Assert.Equal(["promote 0"], _primaryDb.Calls);
        Assert.Equal(["r2"], _primaryServer.Last!.FailsafeMembers);
        Assert.Equal(_listener.Address, _replicaServer.Last!.FailsafeAddress);
        (_primaryServer.Next, _replicaServer.Next) = (null, null);
    }

    [Fact]
    public async Task NoServer_EveryMemberPromises_PrimaryKeepsWritingPastItsRenewDeadline()
    {
        await StartThenLoseTheServersAsync();
        _time.Advance(FailsafeTiming.AskAfter(Ttl));
        await _primary.AskForPromisesAsync(default);
        Assert.Equal(1, _replica.PromisesGiven);

        _time.Advance(FencingTiming.RenewDeadline(Ttl) - FailsafeTiming.AskAfter(Ttl) + TimeSpan.FromMilliseconds(10));
        await _primary.AskForPromisesAsync(default);
        await _primary.TickAsync(default);
        Assert.True(_primary.InFailsafe);
        Assert.DoesNotContain("fence", _primaryDb.Calls);
        Assert.True(_primaryServer.Last is null || !_primaryServer.Last.Fenced);
    }

    /// <summary>
    /// A promise answered later than the renewal was late when the primary asked (under stress-ng the first request of a
    /// process took over 0.5 s) still counts from its send: the primary waits for it as long as it could count, and keeps writing.
    /// </summary>
    [Fact]
    public async Task NoServer_PromiseAnsweredSlowly_StillCountsFromItsSend()
    {
        await StartThenLoseTheServersAsync();
        _time.Advance(FailsafeTiming.AskAfter(Ttl));
        _answerGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var round = _primary.AskForPromisesAsync(default);
        await _requestArrived.Task.WaitAsync(TimeSpan.FromSeconds(10));
        // The answer takes 0.8 s of the primary's clock: longer than the renewal was late when it asked.
        _time.Advance(TimeSpan.FromMilliseconds(800));
        _answerGate.SetResult();
        await round.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1, _replica.PromisesGiven);

        // Past the renew deadline, inside the promise's reliance (sent at AskAfter, relied on for RelyFor): still writing.
        _time.Advance(FencingTiming.RenewDeadline(Ttl) - FailsafeTiming.AskAfter(Ttl) - TimeSpan.FromMilliseconds(800) + TimeSpan.FromMilliseconds(10));
        await _primary.CheckDeadlineAsync(default);
        await _primary.TickAsync(default);
        Assert.DoesNotContain("fence", _primaryDb.Calls);

        // The promise runs out RelyFor after its request was sent: fenced then.
        _time.Advance(FailsafeTiming.AskAfter(Ttl));
        await _primary.CheckDeadlineAsync(default);
        Assert.Equal(["promote 0", "fence"], _primaryDb.Calls);
    }

    [Fact]
    public async Task DeciderThatJustReadTheGroupListsAPeerWithoutAddress_PrimaryKeepsAskingTheAddressItKnows()
    {
        await StartThenLoseTheServersAsync();
        _time.Advance(FailsafeTiming.AskAfter(Ttl));
        // A server that has just taken the group (its state read from the store) answers without renewing, before the replica
        // reported to it: it lists r2 with no failsafe address.
        _primaryServer.Next = PrimaryAssignment(renewed: false) with { FailsafePeers = new Dictionary<string, string> { ["r2"] = "" } };
        await _primary.TickAsync(default);
        _primaryServer.Next = null;
        await _primary.AskForPromisesAsync(default);
        Assert.Equal(1, _replica.PromisesGiven);

        _time.Advance(FencingTiming.RenewDeadline(Ttl) - FailsafeTiming.AskAfter(Ttl) + TimeSpan.FromMilliseconds(10));
        await _primary.AskForPromisesAsync(default);
        await _primary.TickAsync(default);
        Assert.True(_primary.InFailsafe);
        Assert.DoesNotContain("fence", _primaryDb.Calls);
    }

    [Fact]
    public async Task PromisesStop_PrimaryFencesWhenTheLastOneRunsOut_AndNeverResumesOnPromisesAlone()
    {
        await StartThenLoseTheServersAsync();
        _time.Advance(FailsafeTiming.AskAfter(Ttl));
        await _primary.AskForPromisesAsync(default);
        var lastAsk = _time.GetUtcNow();

        _replicaServer.Next = ReplicaAssignment(round: 4); // a decider wants to replace the primary: no more promises
        await _replica.TickAsync(default);
        _replicaServer.Next = null;
        _time.Advance(TimeSpan.FromMilliseconds(400));
        await _primary.AskForPromisesAsync(default);
        Assert.Equal(1, _replica.PromisesGiven);

        _time.Advance(lastAsk + FailsafeTiming.RelyFor(Ttl) - _time.GetUtcNow() - TimeSpan.FromMilliseconds(5));
        await _primary.TickAsync(default);
        Assert.DoesNotContain("fence", _primaryDb.Calls);
        _time.Advance(TimeSpan.FromMilliseconds(10));
        await _primary.TickAsync(default);
        Assert.Equal(["promote 0", "fence"], _primaryDb.Calls);

        // Promises again later do not make it writable: only a renewal does.
        _time.Advance(TimeSpan.FromSeconds(1));
        await _primary.AskForPromisesAsync(default);
        await _primary.TickAsync(default);
        Assert.Equal(["promote 0", "fence"], _primaryDb.Calls);
        Assert.False(_primary.InFailsafe);
    }

    [Fact]
    public async Task DeciderStoredNoRecordForTheEpoch_PrimaryFencesAtItsDeadlineAsWithoutFailsafe()
    {
        await StartThenLoseTheServersAsync(failsafeEpoch: 0);
        _time.Advance(FailsafeTiming.AskAfter(Ttl));
        await _primary.AskForPromisesAsync(default);
        Assert.Equal(0, _replica.PromisesGiven);
        _time.Advance(FencingTiming.RenewDeadline(Ttl));
        await _primary.TickAsync(default);
        Assert.Contains("fence", _primaryDb.Calls);
    }

    [Fact]
    public async Task Replica_DeciderHasAPositionRoundOpen_RefusesToPromise()
    {
        _replicaServer.Next = ReplicaAssignment(round: 4);
        await _replica.TickAsync(default);
        var answer = await _replica.AnswerPromiseAsync(new FailsafePromiseRequest("cache", "r2", "r1", 1));
        Assert.False(answer.Granted);
        Assert.Contains("position round open", answer.Reason, StringComparison.Ordinal);
        _replicaServer.Next = ReplicaAssignment();
        await _replica.TickAsync(default);
        Assert.True((await _replica.AnswerPromiseAsync(new FailsafePromiseRequest("cache", "r2", "r1", 1))).Granted);
    }

    [Fact]
    public async Task Replica_LastAnswerFromTheStore_DecidersLastAnswerDecides()
    {
        // A server whose decider does not answer answers from the store: the primary and epoch, no address, round 0.
        var fromStore = new Assignment { Epoch = 1, Role = MemberRole.Replica, Primary = "r1", LeaseTtl = Ttl };
        _replicaServer.Next = ReplicaAssignment();
        await _replica.TickAsync(default);
        _replicaServer.Next = fromStore;
        await _replica.TickAsync(default);
        Assert.True((await _replica.AnswerPromiseAsync(new FailsafePromiseRequest("cache", "r2", "r1", 1))).Granted);

        // The decider had a position round open: a store answer's round 0 does not hide it.
        _replicaServer.Next = ReplicaAssignment(round: 4);
        await _replica.TickAsync(default);
        _replicaServer.Next = fromStore;
        await _replica.TickAsync(default);
        var answer = await _replica.AnswerPromiseAsync(new FailsafePromiseRequest("cache", "r2", "r1", 1));
        Assert.False(answer.Granted);
        Assert.Contains("position round open", answer.Reason, StringComparison.Ordinal);

        // A store answer naming another primary or epoch: refused whatever the decider said last.
        _replicaServer.Next = ReplicaAssignment();
        await _replica.TickAsync(default);
        _replicaServer.Next = fromStore with { Epoch = 2, Primary = "r3" };
        await _replica.TickAsync(default);
        Assert.False((await _replica.AnswerPromiseAsync(new FailsafePromiseRequest("cache", "r2", "r1", 1))).Granted);
    }

    [Fact]
    public async Task Replica_OtherPrimaryEpochOrDatabase_RefusesToPromise()
    {
        _replicaServer.Next = ReplicaAssignment(epoch: 3);
        await _replica.TickAsync(default);
        _replicaServer.Next = null;
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.False((await _replica.AnswerPromiseAsync(new FailsafePromiseRequest("cache", "r2", "r1", 2))).Granted);
        Assert.False((await _replica.AnswerPromiseAsync(new FailsafePromiseRequest("cache", "r2", "r9", 3))).Granted);
        Assert.False((await _replica.AnswerPromiseAsync(new FailsafePromiseRequest("cache", "r3", "r1", 3))).Granted);
        _replicaDb.Following = "127.0.0.1:7999"; // the database replicates from elsewhere
        await _replica.TickAsync(default);
        Assert.False((await _replica.AnswerPromiseAsync(new FailsafePromiseRequest("cache", "r2", "r1", 3))).Granted);
        _replicaDb.Following = "127.0.0.1:7001";
        await _replica.TickAsync(default);
        Assert.True((await _replica.AnswerPromiseAsync(new FailsafePromiseRequest("cache", "r2", "r1", 3))).Granted);
    }

    [Fact]
    public async Task Replica_HoldingAPromise_RefusesPromotionAndPositionRoundsUntilItEnds()
    {
        _replicaServer.Next = ReplicaAssignment();
        await _replica.TickAsync(default);
        _replicaServer.Next = null;
        _time.Advance(TimeSpan.FromSeconds(3)); // the start-up hold is over
        Assert.True((await _replica.AnswerPromiseAsync(new FailsafePromiseRequest("cache", "r2", "r1", 1))).Granted);

        // The control plane returns, promotes it in the next epoch and opens a position round: bound, it does neither.
        _replicaServer.Next = new Assignment { Epoch = 2, Role = MemberRole.Primary, Primary = "r2", PrimaryAddress = "127.0.0.1:7001", LeaseRenewed = true, LeaseTtl = Ttl, Round = 7 };
        await _replica.TickAsync(default);
        await _replica.TickAsync(default);
        Assert.DoesNotContain(_replicaDb.Calls, c => c.StartsWith("promote", StringComparison.Ordinal));
        Assert.Equal(0, _replicaServer.Last!.Round);

        _time.Advance(FailsafeTiming.PromiseTtl(Ttl));
        await _replica.TickAsync(default);
        await _replica.TickAsync(default);
        Assert.Contains(_replicaDb.Calls, c => c.StartsWith("promote", StringComparison.Ordinal));
        Assert.Equal(7, _replicaServer.Last!.Round);
    }

    [Theory]
    [InlineData("{", "body")]
    [InlineData("[]", "body")]
    [InlineData("null", "body")]
    [InlineData("""{"member":"r2","primary":"r1","epoch":1}""", "group")]
    [InlineData("""{"group":"cache","primary":"r1","epoch":1}""", "member")]
    [InlineData("""{"group":"cache","member":"r2","epoch":1}""", "primary")]
    [InlineData("""{"group":"cache","member":"r2","primary":"r1","epoch":0}""", "epoch")]
    [InlineData("""{"group":"cache","member":"r2","primary":"r1","epoch":"x"}""", "body")]
    public async Task Endpoint_BadInput_400ProblemNamingTheField(string body, string field)
    {
        using var http = new HttpClient();
        using var response = await http.PostAsync(new Uri($"http://{_listener.Address}/v1/failsafe/promise"),
            new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>();
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.ToString());
        Assert.Equal(0, _replica.PromisesGiven);
    }
}
