using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Halo.Core.Failover;
using Halo.Core.Serialization;
using Halo.Server;
using Halo.Server.Groups;
using Halo.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Halo.IntegrationTests.Failover;

/// <summary>The controller and the groups API on a fake clock over a real embedded store: leadership, candidate choice, bad input.</summary>
public sealed class GroupControllerTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero)) { AutoAdvanceAmount = TimeSpan.Zero };
    private readonly string _dir = HaloProcess.TempDirectory("groups");
    private IStore _store = null!;
    private WebApplication _app = null!;
    private HttpClient _http = null!;

    public async ValueTask InitializeAsync()
    {
        _store = await EmbeddedStore.OpenAsync(_dir, new EmbeddedStoreOptions { LeaseCheckInterval = TimeSpan.FromMilliseconds(50) }, _time);
        _app = await HaloServerHost.BuildAsync(new ServerOptions { Listen = "http://127.0.0.1:0", DataDirectory = _dir, Security = new() { AllowAnonymous = true } }, _store, _time, l => l.ClearProviders());
        await _app.StartAsync();
        _http = new HttpClient { BaseAddress = HaloServerHost.Address(_app) };
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        await _store.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private Task TickAsync() => _app.Services.GetRequiredService<GroupController>().TickAsync(default);

    private async Task<HttpResponseMessage> PutGroupAsync(object policy) =>
        await _http.PutAsync("/v1/groups/cache", new StringContent(JsonSerializer.Serialize(policy, HaloJson.Options), System.Text.Encoding.UTF8, "application/json"));

    /// <summary>The newest position round the test's "agents" have seen; every report answers it, as an agent's would.</summary>
    private long _round;

    private Task<Assignment> ReportAsync(string member, long offset, bool dbUp = true, MemberRole role = MemberRole.Replica, long epoch = 0) =>
        ReportAsync(member, new MemberReport { Address = AddressOf(member), Role = role, DbUp = dbUp, Healthy = dbUp, Offset = offset, Epoch = epoch });

    private static string AddressOf(string member) => $"127.0.0.1:{6000 + member[^1]}";

    /// <summary>Sends <paramref name="report"/> answering the newest round seen, as an agent would.</summary>
    private async Task<Assignment> ReportAsync(string member, MemberReport report)
    {
        using var response = await _http.PostAsJsonAsync($"/v1/groups/cache/members/{member}/report", report with { Round = _round }, HaloJson.Options);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var a = (await response.Content.ReadFromJsonAsync<Assignment>(HaloJson.Options))!;
        _round = Math.Max(_round, a.Round);
        return a;
    }

    /// <summary>Sees the round the last tick opened, as agents do through their long poll.</summary>
    private async Task SeeRoundAsync() => _round = Math.Max(_round, (await StatusAsync()).Round?.Id ?? 0);

    private async Task<GroupStatus> StatusAsync() => (await _http.GetFromJsonAsync<GroupStatus>("/v1/groups/cache", HaloJson.Options))!;

    private async Task<JsonElement> ProblemAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        Assert.Equal(expected, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    /// <summary>Proves the lease really lapsed, so "no failover" is the controller's choice and not a test too quick to matter.</summary>
    private async Task LeaseGoneAsync()
    {
        for (var i = 0; i < 200 && (await _store.GetAsync("groups/cache/lease")).Item is not null; i++)
        {
            await Task.Delay(10);
        }

        Assert.Null((await _store.GetAsync("groups/cache/lease")).Item);
    }

    private async Task<GroupStatus> ElectAsync(GroupPolicy policy)
    {
        Assert.Equal(HttpStatusCode.Created, (await PutGroupAsync(policy)).StatusCode);
        await ReportAsync("r1", 100);
        await ReportAsync("r2", 50);
        await ReportAsync("r3", 90);
        await TickAsync(); // opens the position round
        await SeeRoundAsync();
        await ReportAsync("r1", 100);
        await ReportAsync("r2", 50);
        await ReportAsync("r3", 90);
        await TickAsync();
        var status = await StatusAsync();
        var a = await ReportAsync(status.Primary!, 100, role: MemberRole.Replica, epoch: status.Epoch);
        Assert.True(a.LeaseRenewed);
        return status;
    }

    [Fact]
    public async Task Tick_NoLeader_ElectsHighestOffsetInEpochOne()
    {
        var status = await ElectAsync(new GroupPolicy());
        Assert.Equal(("r1", 1L), (status.Primary, status.Epoch));
        Assert.Equal(MemberRole.Replica, (await ReportAsync("r2", 50)).Role);
        Assert.Equal("r1", (await ReportAsync("r2", 50)).Primary);
    }

    [Fact]
    public async Task Metrics_PrimaryConfirmsPromotion_PrimaryConfirmedGaugeOne()
    {
        var status = await ElectAsync(new GroupPolicy());
        Assert.Equal("0", await GaugeAsync("halo_group_primary_confirmed"));

        await ReportAsync(status.Primary!, 100, role: MemberRole.Primary, epoch: status.Epoch);

        Assert.Equal("1", await GaugeAsync("halo_group_primary_confirmed"));
        Assert.Equal("1", await GaugeAsync("halo_group_epoch"));
    }

    private async Task<string?> GaugeAsync(string name)
    {
        var text = await _http.GetStringAsync("/metrics");
        var line = text.Split('\n').FirstOrDefault(l => l.StartsWith(name + "{", StringComparison.Ordinal) && l.Contains("group=\"cache\"", StringComparison.Ordinal));
        return line?.Split(' ')[1];
    }

    [Fact]
    public async Task Tick_LeaseLapses_PromotesBestCandidateSkippingLaggingAndNeverPromote()
    {
        // AckReplicas 0: r3 (never promoted) holds more than r2, which with WAIT 1 would block the failover (tested below).
        var policy = new GroupPolicy { AckReplicas = 0, MaxLagBytes = 20, Members = new Dictionary<string, MemberPolicy> { ["r3"] = new() { NeverPromote = true } } };
        await ElectAsync(policy);
        // r1 goes silent; replicas keep reporting while the fake clock passes the 2 s TTL.
        // Lease expiry runs on the store's writer thread, so give each fake step a moment of real time; bounded either way.
        for (var i = 0; i < 100 && (await StatusAsync()).Epoch == 1; i++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(100));
            await ReportAsync("r2", 95);
            await ReportAsync("r3", 100);
            await TickAsync();
            await Task.Delay(5);
        }

        var status = await StatusAsync();
        Assert.True(status.Epoch == 2, JsonSerializer.Serialize(status, HaloJson.Options) + " marker: " + (await _store.GetAsync("groups/cache/lease")).Item?.LeaseId);
        Assert.Equal(("r2", 2L), (status.Primary, status.Epoch));
        Assert.Equal("lease-expired", status.LastFailover!.Cause);
        Assert.Equal(MemberRole.Primary, (await ReportAsync("r2", 95, epoch: 2)).Role);
    }

    [Fact]
    public async Task Tick_OnlyCandidateLagging_NoFailoverAndReasonVisible()
    {
        await ElectAsync(new GroupPolicy { MaxLagBytes = 5 });
        for (var i = 0; i < 30; i++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(100));
            await ReportAsync("r2", 50);
            await ReportAsync("r3", 90);
            await TickAsync();
            await Task.Delay(5);
        }

        await LeaseGoneAsync();
        await TickAsync();
        Assert.Equal(1, (await StatusAsync()).Epoch);
    }

    [Fact]
    public async Task Tick_PrimaryDatabaseDies_ItsLastPositionStillBoundsTheReplicasLag()
    {
        await ElectAsync(new GroupPolicy { MaxLagBytes = 100 });
        await ReportAsync("r1", 1_000, role: MemberRole.Primary, epoch: 1);
        // r1's database dies: its reports now carry no position (0). What it held until then (1,000) is still what the
        // replicas must be within maxLagBytes of; both are 900+ behind, so nobody is promoted.
        for (var i = 0; i < 15; i++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(100));
            await ReportAsync("r1", 0, dbUp: false, epoch: 1);
            await ReportAsync("r2", 50);
            await ReportAsync("r3", 90);
            await TickAsync();
        }

        var status = await StatusAsync();
        Assert.Equal(("r1", 1L), (status.Primary, status.Epoch));
        Assert.Contains("lagging", status.Blocked, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tick_DatabaseDownWithinRestartGrace_WaitsThenFailsOver()
    {
        var elected = await ElectAsync(new GroupPolicy { RestartGrace = TimeSpan.FromSeconds(1) });
        await ReportAsync("r1", 100, dbUp: false, epoch: 1);
        await TickAsync();
        Assert.Equal(1, (await StatusAsync()).Epoch);
        for (var i = 0; i < 12; i++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(100));
            await ReportAsync("r1", 100, dbUp: false, epoch: 1);
            await ReportAsync("r2", 50);
            await ReportAsync("r3", 99);
            await TickAsync();
        }

        var status = await StatusAsync();
        Assert.Equal(("r3", 2L, "db-down"), (status.Primary, status.Epoch, status.LastFailover!.Cause));
        Assert.Equal(elected.Primary, status.LastFailover.From);
    }

    [Fact]
    public async Task Tick_PrimaryDownAndAReplicaSilent_BlockedWithEventUntilItAnswersThenPromotesTheBest()
    {
        await ElectAsync(new GroupPolicy { AckReplicas = 1 });
        await ReportAsync("r1", 100, role: MemberRole.Primary, epoch: 1);
        // r1's database dies; r3 (which may hold a write acknowledged by WAIT 1 that r2 lacks) has gone silent.
        for (var i = 0; i < 15; i++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(100));
            await ReportAsync("r1", 100, dbUp: false, epoch: 1);
            await ReportAsync("r2", 95);
            await TickAsync();
        }

        var blocked = await StatusAsync();
        Assert.Equal(1, blocked.Epoch);
        Assert.NotNull(blocked.Round);
        Assert.Contains("r3", blocked.Blocked, StringComparison.Ordinal);
        Assert.Equal("1", await GaugeAsync("halo_group_failover_blocked"));
        var events = await _http.GetStringAsync("/v1/events?type=failover-blocked");
        Assert.Contains("\"to\":\"blocked\"", events, StringComparison.Ordinal);

        // r3 answers the round: it holds the most, so it is promoted, and the block is resolved.
        await ReportAsync("r3", 100);
        await TickAsync();
        var after = await StatusAsync();
        Assert.Equal(("r3", 2L, (string?)null, (PositionRound?)null), (after.Primary, after.Epoch, after.Blocked, after.Round));
        Assert.Contains("\"to\":\"resolved\"", await _http.GetStringAsync("/v1/events?type=failover-blocked"), StringComparison.Ordinal);
        Assert.Equal("0", await GaugeAsync("halo_group_failover_blocked"));
    }

    /// <summary>
    /// The two-way agent-server cut of seed 20261128, trial 4 (docs/failover.md, "Limits"), on the fake clock. r1, primary of
    /// epoch 1, is cut off and its database dies; r2 is promoted in epoch 2, promotes its database, and its reports are lost
    /// before it confirms, so its lease lapses and it fences. With ackReplicas 1 the round for epoch 3 needs both r1 and r3, but
    /// r1's agent holds its crashed database down while no primary is confirmed: blocked for good, until r2 (fenced, the same
    /// database process it promoted in epoch 2) answers the round itself. Its answer bounds the round: r3, still following r1,
    /// is not a candidate, so r2 is promoted again in epoch 3, confirms, and r1 is told whom to restart behind.
    /// </summary>
    [Fact]
    public async Task Tick_PromotedPrimaryLapsesFencedWhileTheOldPrimaryIsHeldDown_PromotesItAgainInsteadOfStayingBlocked()
    {
        await ElectAsync(new GroupPolicy { AckReplicas = 1 });
        await ReportAsync("r1", 100, role: MemberRole.Primary, epoch: 1);
        var replica = new MemberReport { Address = "", Role = MemberRole.Replica, DbUp = true, Healthy = true, Following = AddressOf("r1") };
        for (var i = 0; i < 100 && (await StatusAsync()).Epoch == 1; i++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(100));
            await ReportAsync("r2", replica with { Address = AddressOf("r2"), Offset = 100 });
            await ReportAsync("r3", replica with { Address = AddressOf("r3"), Offset = 98 });
            await TickAsync();
            await Task.Delay(5);
        }

        Assert.Equal(("r2", 2L), ((await StatusAsync()).Primary, (await StatusAsync()).Epoch));
        Assert.True((await ReportAsync("r2", replica with { Address = AddressOf("r2"), Offset = 100, Epoch = 2 })).LeaseRenewed);

        // r2 promoted its database, then went silent; r1 is back with its database held down; r3 still follows r1.
        for (var i = 0; i < 100 && (await StatusAsync()).Blocked is null; i++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(100));
            await ReportAsync("r1", 0, dbUp: false, epoch: 1);
            await ReportAsync("r3", replica with { Address = AddressOf("r3"), Offset = 98 });
            await TickAsync();
            await Task.Delay(5);
        }

        var blocked = await StatusAsync();
        Assert.Equal((2L, "r2"), (blocked.Epoch, blocked.Round?.Failed));
        Assert.Contains("(r1)", blocked.Blocked, StringComparison.Ordinal);

        // r2's reports get through again: fenced primary, the database it promoted in epoch 2.
        await SeeRoundAsync();
        var fenced = new MemberReport { Address = AddressOf("r2"), Role = MemberRole.Primary, DbUp = true, Healthy = true, Fenced = true, Offset = 100, Epoch = 2, PrimaryOfEpoch = 2 };
        await ReportAsync("r2", fenced);
        await TickAsync();
        var after = await StatusAsync();
        Assert.Equal(("r2", 3L, (string?)null, (PositionRound?)null), (after.Primary, after.Epoch, after.Blocked, after.Round));
        Assert.Contains("fenced primary of epoch 2", after.LastFailover!.Evidence, StringComparison.Ordinal);
        Assert.Contains("\"to\":\"resolved\"", await _http.GetStringAsync("/v1/events?type=failover-blocked"), StringComparison.Ordinal);

        // Its agent renews epoch 3's lease, lifts the fence and confirms; now the held-down r1 learns whom to follow.
        Assert.True((await ReportAsync("r2", fenced with { Epoch = 3 })).LeaseRenewed);
        await ReportAsync("r2", fenced with { Epoch = 3, Fenced = false, PrimaryOfEpoch = 3 });
        Assert.Equal(AddressOf("r2"), (await ReportAsync("r1", 0, dbUp: false, epoch: 1)).PrimaryAddress);
    }

    [Fact]
    public async Task Tick_BootstrapLeaseLapsesDuringInitdb_TheOnlyMemberWithDataIsElectedAgainAndNoOtherEver()
    {
        // The stuck bootstrap seen under CPU starvation: r1 is elected to initdb, its lease lapses while initdb runs, and r2/r3
        // have empty data directories (they wait for a primary to copy from). Safety first: nobody else is elected (no second
        // initdb, no empty primary); once r1's database is up and fenced it is the only copy, so it is elected again in epoch 2.
        Assert.Equal(HttpStatusCode.Created, (await PutGroupAsync(new GroupPolicy())).StatusCode);
        var empty = new MemberReport { Address = "", Role = MemberRole.Unknown, DbUp = false, Healthy = false, Bootstrappable = true };
        async Task EmptyReportsAsync()
        {
            await ReportAsync("r2", empty with { Address = AddressOf("r2") });
            await ReportAsync("r3", empty with { Address = AddressOf("r3") });
        }

        await ReportAsync("r1", empty with { Address = AddressOf("r1") });
        await EmptyReportsAsync();
        await TickAsync();
        await SeeRoundAsync();
        await ReportAsync("r1", empty with { Address = AddressOf("r1") });
        await EmptyReportsAsync();
        await TickAsync();
        var elected = await StatusAsync();
        Assert.Equal(("r1", 1L), (elected.Primary, elected.Epoch));
        var initdb = new MemberReport { Address = AddressOf("r1"), Role = MemberRole.Unknown, DbUp = false, Healthy = false, Epoch = 1 };
        Assert.True((await ReportAsync("r1", initdb)).LeaseRenewed);

        // Starved: r1's reports stop renewing (none get through) past the TTL, then come back while initdb still runs.
        _time.Advance(TimeSpan.FromSeconds(3));
        await LeaseGoneAsync();
        for (var i = 0; i < 100 && (await StatusAsync()).Blocked is null; i++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(100));
            Assert.False((await ReportAsync("r1", initdb)).LeaseRenewed);
            await EmptyReportsAsync();
            await TickAsync();
            await Task.Delay(5);
        }

        var blocked = await StatusAsync();
        Assert.Equal(("r1", 1L), (blocked.Primary, blocked.Epoch));
        Assert.NotNull(blocked.Blocked);

        // initdb done: r1's database runs fenced as a primary it never promoted (it vouches for no epoch), r2/r3 still empty.
        await SeeRoundAsync();
        var fenced = initdb with { Role = MemberRole.Primary, DbUp = true, Healthy = true, Fenced = true, Offset = 2000, Timeline = 1 };
        await ReportAsync("r1", fenced);
        await EmptyReportsAsync();
        await TickAsync();
        var after = await StatusAsync();
        Assert.Equal(("r1", 2L, (string?)null), (after.Primary, after.Epoch, after.Blocked));
        Assert.Contains("the only member with data", after.LastFailover!.Evidence, StringComparison.Ordinal);
        var renewed = await ReportAsync("r1", fenced with { Epoch = 2 });
        Assert.True(renewed.LeaseRenewed);
        Assert.Equal((MemberRole.Primary, 2L), (renewed.Role, renewed.Epoch));

        // Its agent promotes (lifts the fence) and confirms; only then do the empty members learn whom to copy from.
        await ReportAsync("r1", fenced with { Epoch = 2, Fenced = false, PrimaryOfEpoch = 2 });
        Assert.True((await StatusAsync()).PrimaryConfirmed);
        Assert.Equal(AddressOf("r1"), (await ReportAsync("r2", empty with { Address = AddressOf("r2") })).PrimaryAddress);
    }

    [Fact]
    public async Task Tick_Paused_LeaseLapsesWithoutFailover()
    {
        await ElectAsync(new GroupPolicy());
        Assert.True((await _http.PostAsync("/v1/groups/cache/pause", null)).IsSuccessStatusCode);
        for (var i = 0; i < 30; i++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(100));
            await ReportAsync("r2", 100);
            await TickAsync();
            await Task.Delay(5);
        }

        await LeaseGoneAsync();
        await TickAsync();

        Assert.Equal(1, (await StatusAsync()).Epoch);
        Assert.True((await StatusAsync()).Paused);
    }

    [Fact]
    public async Task PutGroup_IfMatchStale_412AndTheStoredPolicyKept()
    {
        var created = await PutGroupAsync(new GroupPolicy { MaxLagBytes = 100 });
        var revision = created.Headers.ETag!.Tag.Trim('"');
        using var update = new HttpRequestMessage(HttpMethod.Put, "/v1/groups/cache")
        {
            Content = new StringContent(JsonSerializer.Serialize(new GroupPolicy { MaxLagBytes = 200 }, HaloJson.Options), System.Text.Encoding.UTF8, "application/json"),
        };
        update.Headers.TryAddWithoutValidation("If-Match", $"\"{revision}\"");
        Assert.Equal(HttpStatusCode.OK, (await _http.SendAsync(update)).StatusCode);

        using var stale = new HttpRequestMessage(HttpMethod.Put, "/v1/groups/cache")
        {
            Content = new StringContent(JsonSerializer.Serialize(new GroupPolicy { MaxLagBytes = 300 }, HaloJson.Options), System.Text.Encoding.UTF8, "application/json"),
        };
        stale.Headers.TryAddWithoutValidation("If-Match", revision);
        await ProblemAsync(await _http.SendAsync(stale), HttpStatusCode.PreconditionFailed);
        Assert.Equal(200, (await StatusAsync()).Policy.MaxLagBytes);
    }

    [Fact]
    public async Task Pause_PolicyChangedByAnotherServerMeanwhile_KeepsThatChangeAndPauses()
    {
        await PutGroupAsync(new GroupPolicy { MaxLagBytes = 100 });
        // Another server (same store) edits the policy; this server's copy is now stale.
        await _store.PutAsync("groups/cache/policy", JsonSerializer.SerializeToUtf8Bytes(new GroupPolicy { MaxLagBytes = 555 }, HaloJson.Options));

        Assert.True((await _http.PostAsync("/v1/groups/cache/pause", null)).IsSuccessStatusCode);

        var stored = JsonSerializer.Deserialize<GroupPolicy>((await _store.GetAsync("groups/cache/policy")).Item!.Value.Span, HaloJson.Options)!;
        Assert.Equal((555L, true), (stored.MaxLagBytes, stored.Paused));
        Assert.Equal((555L, true), ((await StatusAsync()).Policy.MaxLagBytes, (await StatusAsync()).Paused));
    }

    [Fact]
    public async Task PauseAndPolicyPuts_Concurrently_NoUpdateLost()
    {
        await PutGroupAsync(new GroupPolicy());
        var puts = Enumerable.Range(1, 20).Select(i => PutGroupAsync(new GroupPolicy { MaxLagBytes = i, Paused = true }));
        var pauses = Enumerable.Range(0, 20).Select(_ => _http.PostAsync("/v1/groups/cache/pause", null));
        await Task.WhenAll(puts.Cast<Task>().Concat(pauses));

        var stored = JsonSerializer.Deserialize<GroupPolicy>((await _store.GetAsync("groups/cache/policy")).Item!.Value.Span, HaloJson.Options)!;
        var status = await StatusAsync();
        Assert.True(stored.Paused);
        Assert.Equal(JsonSerializer.Serialize(stored, HaloJson.Options), JsonSerializer.Serialize(status.Policy, HaloJson.Options));
        Assert.Equal((await _store.GetAsync("groups/cache/policy")).Item!.ModRevision, status.PolicyRevision);
    }

    [Fact]
    public async Task DeleteMember_PrimaryOrStillReporting_RefusedThenDeletedOnceSilent()
    {
        await ElectAsync(new GroupPolicy());
        var primary = await ProblemAsync(await _http.DeleteAsync("/v1/groups/cache/members/r1"), HttpStatusCode.Conflict);
        Assert.Contains("primary", primary.GetProperty("detail").GetString(), StringComparison.Ordinal);
        var live = await ProblemAsync(await _http.DeleteAsync("/v1/groups/cache/members/r3"), HttpStatusCode.Conflict);
        Assert.Contains("still reporting", live.GetProperty("detail").GetString(), StringComparison.Ordinal);
        await ProblemAsync(await _http.DeleteAsync("/v1/groups/cache/members/r9"), HttpStatusCode.NotFound);

        _time.Advance(TimeSpan.FromSeconds(2)); // r3's agent was stopped: no report for longer than memberTimeout
        await ReportAsync("r1", 100, role: MemberRole.Primary, epoch: 1);
        Assert.Equal(HttpStatusCode.NoContent, (await _http.DeleteAsync("/v1/groups/cache/members/r3")).StatusCode);

        Assert.DoesNotContain((await StatusAsync()).Members, m => m.Name == "r3");
        Assert.Null((await _store.GetAsync("groups/cache/members/r3")).Item);
        Assert.Contains("member-deleted", await _http.GetStringAsync("/v1/events?type=member-deleted"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeleteGroup_MembersStillReporting_RefusedThenEverythingGoneOnceSilent()
    {
        await ElectAsync(new GroupPolicy());
        await ProblemAsync(await _http.DeleteAsync("/v1/groups/cache"), HttpStatusCode.Conflict);

        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(HttpStatusCode.NoContent, (await _http.DeleteAsync("/v1/groups/cache")).StatusCode);

        Assert.Equal(HttpStatusCode.NotFound, (await _http.GetAsync("/v1/groups/cache")).StatusCode);
        Assert.Empty((await _store.ListAsync("groups/")).Items);
        await ProblemAsync(await _http.PostAsJsonAsync("/v1/groups/cache/members/r1/report", new { address = "127.0.0.1:1" }), HttpStatusCode.NotFound);
        Assert.Contains("group-deleted", await _http.GetStringAsync("/v1/events?type=group-deleted"), StringComparison.Ordinal);
        // The name can be used again.
        Assert.Equal(HttpStatusCode.Created, (await PutGroupAsync(new GroupPolicy())).StatusCode);
    }

    [Theory]
    [InlineData("""{"leaseTtl":"1500ms"}""", "leaseTtl")]
    [InlineData("""{"maxLagBytes":-1}""", "maxLagBytes")]
    [InlineData("""{"leaseTtl":"soon"}""", "leaseTtl")]
    [InlineData("""{"leasettl2":"2s"}""", "leasettl2")]
    [InlineData("""{"members":{"r1":{"priority":5000}}}""", "members.r1.priority")]
    public async Task PutGroup_InvalidPolicy_400NamingFieldAndNothingStored(string body, string field)
    {
        using var response = await _http.PutAsync("/v1/groups/cache", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        var problem = await ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.ToString());
        Assert.Equal(HttpStatusCode.NotFound, (await _http.GetAsync("/v1/groups/cache")).StatusCode);
        Assert.Empty((await _store.ListAsync("groups/")).Items);
    }

    [Fact]
    public async Task Switchover_UnknownOrLaggingOrDownMember_RefusedNamingToAndNothingChanged()
    {
        await ElectAsync(new GroupPolicy { MaxLagBytes = 10 });
        await ReportAsync("r1", 100, role: MemberRole.Primary, epoch: 1);
        await ReportAsync("r3", 90, dbUp: false);

        var unknown = await ProblemAsync(await _http.PostAsJsonAsync("/v1/groups/cache/switchover", new { to = "r9" }), HttpStatusCode.BadRequest);
        Assert.True(unknown.GetProperty("errors").TryGetProperty("to", out _));
        var lagging = await ProblemAsync(await _http.PostAsJsonAsync("/v1/groups/cache/switchover", new { to = "r2" }), HttpStatusCode.Conflict);
        Assert.Contains("lagging", lagging.GetProperty("detail").GetString(), StringComparison.Ordinal);
        var down = await ProblemAsync(await _http.PostAsJsonAsync("/v1/groups/cache/switchover", new { to = "r3" }), HttpStatusCode.Conflict);
        Assert.Contains("database down", down.GetProperty("detail").GetString(), StringComparison.Ordinal);
        await ProblemAsync(await _http.PostAsJsonAsync("/v1/groups/cache/switchover", new { target = "r2" }), HttpStatusCode.BadRequest);

        var status = await StatusAsync();
        Assert.Equal(("r1", 1L, (string?)null), (status.Primary, status.Epoch, status.Pending));
    }

    [Fact]
    public async Task Report_BadAddressOrUnknownGroup_RefusedNamingField()
    {
        await PutGroupAsync(new GroupPolicy());
        var bad = await ProblemAsync(await _http.PostAsJsonAsync("/v1/groups/cache/members/r1/report", new { address = "nowhere", offset = 1 }), HttpStatusCode.BadRequest);
        Assert.True(bad.GetProperty("errors").TryGetProperty("address", out _));
        var negative = await ProblemAsync(await _http.PostAsJsonAsync("/v1/groups/cache/members/r1/report", new { address = "127.0.0.1:1", offset = -5 }), HttpStatusCode.BadRequest);
        Assert.True(negative.GetProperty("errors").TryGetProperty("offset", out _));
        await ProblemAsync(await _http.PostAsJsonAsync("/v1/groups/nope/members/r1/report", new { address = "127.0.0.1:1" }), HttpStatusCode.NotFound);
        var mode = await ProblemAsync(await _http.PostAsJsonAsync("/v1/groups/cache/drill", new { mode = "explode" }), HttpStatusCode.BadRequest);
        Assert.True(mode.GetProperty("errors").TryGetProperty("mode", out _));
        await ProblemAsync(await _http.GetAsync("/v1/groups/Bad%20Name"), HttpStatusCode.BadRequest);
        Assert.Empty((await StatusAsync()).Members);
    }
}
