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

    private async Task<Assignment> ReportAsync(string member, long offset, bool dbUp = true, MemberRole role = MemberRole.Replica, long epoch = 0)
    {
        using var response = await _http.PostAsJsonAsync($"/v1/groups/cache/members/{member}/report",
            new MemberReport { Address = $"127.0.0.1:{6000 + member[^1]}", Role = role, DbUp = dbUp, Healthy = dbUp, Offset = offset, Epoch = epoch }, HaloJson.Options);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<Assignment>(HaloJson.Options))!;
    }

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
        var policy = new GroupPolicy { MaxLagBytes = 20, Members = new Dictionary<string, MemberPolicy> { ["r3"] = new() { NeverPromote = true } } };
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
