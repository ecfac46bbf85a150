using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Halo.Core.Failover;
using Halo.Core.Serialization;
using Halo.Server;
using Halo.Server.Alerts;
using Halo.Server.Groups;
using Halo.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Halo.IntegrationTests.Monitoring;

/// <summary>One failover of a group → exactly one webhook delivery, retried when the real receiver first fails.</summary>
public sealed class FailoverWebhookTests
{
    [Fact]
    public async Task GroupFailsOver_ReceiverFailsFirst_ExactlyOneDeliveryAfterRetry()
    {
        var received = new ConcurrentQueue<(int Status, JsonElement Body)>();
        var failNext = 1;
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        await using var receiver = builder.Build();
        receiver.MapPost("/hook", async (HttpContext context) =>
        {
            var body = (await JsonDocument.ParseAsync(context.Request.Body)).RootElement.Clone();
            var status = Interlocked.Exchange(ref failNext, 0) == 1 ? 503 : 200;
            received.Enqueue((status, body));
            return Results.StatusCode(status);
        });
        await receiver.StartAsync();

        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero)) { AutoAdvanceAmount = TimeSpan.Zero };
        var dir = HaloProcess.TempDirectory("failover-webhook");
        await using var store = await EmbeddedStore.OpenAsync(dir, new EmbeddedStoreOptions { LeaseCheckInterval = TimeSpan.FromMilliseconds(50) }, time);
        var options = new ServerOptions
        {
            Listen = "http://127.0.0.1:0", DataDirectory = dir, Security = new() { AllowAnonymous = true },
            Alerts = new AlertOptions { Webhooks = [receiver.Urls.First() + "/hook"], InitialBackoff = TimeSpan.FromSeconds(1), Timeout = TimeSpan.FromMinutes(1) },
        };
        await using var app = await HaloServerHost.BuildAsync(options, store, time, l => l.ClearProviders());
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = HaloServerHost.Address(app) };
        var controller = app.Services.GetRequiredService<GroupController>();

        // Like agents, the reports answer the controller's position round once they have seen it.
        long round = 0;
        async Task ReportAsync(string member, long offset, bool dbUp = true, long epoch = 0)
        {
            using var response = await http.PostAsJsonAsync($"/v1/groups/cache/members/{member}/report",
                new MemberReport { Address = $"127.0.0.1:{6000 + member[^1]}", Role = MemberRole.Replica, DbUp = dbUp, Healthy = dbUp, Offset = offset, Epoch = epoch, Round = round },
                HaloJson.Options);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            round = Math.Max(round, (await response.Content.ReadFromJsonAsync<Assignment>(HaloJson.Options))!.Round);
        }

        // Elect r1, then its database goes down; after the restart grace the controller fails over (as GroupControllerTests).
        using (var put = await http.PutAsync("/v1/groups/cache", new StringContent(
            JsonSerializer.Serialize(new GroupPolicy { RestartGrace = TimeSpan.FromSeconds(1) }, HaloJson.Options), System.Text.Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        }

        await ReportAsync("r1", 100);
        await ReportAsync("r2", 50);
        await ReportAsync("r3", 90);
        await controller.TickAsync(default); // opens the position round
        await ReportAsync("r1", 100);
        await ReportAsync("r1", 100);
        await ReportAsync("r2", 50);
        await ReportAsync("r3", 90);
        await controller.TickAsync(default);
        await ReportAsync("r1", 100, epoch: 1);
        for (var i = 0; i < 12; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(100));
            await ReportAsync("r1", 100, dbUp: false, epoch: 1);
            await ReportAsync("r2", 50);
            await ReportAsync("r3", 99);
            await controller.TickAsync(default);
        }

        var status = (await http.GetFromJsonAsync<GroupStatus>("/v1/groups/cache", HaloJson.Options))!;
        Assert.Equal(2, status.Epoch);

        // First attempt refused; the retry waits on the fake clock, so move it in small steps until the retry lands.
        var clock = Stopwatch.StartNew();
        while (received.IsEmpty && clock.Elapsed < TimeSpan.FromSeconds(20))
        {
            await Task.Delay(50);
        }

        for (var i = 0; i < 100 && received.Count < 2; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(250));
            await Task.Delay(50);
        }

        // More controller ticks and time: the failover is not notified again.
        for (var i = 0; i < 20; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(250));
            await ReportAsync("r3", 99, epoch: 2);
            await controller.TickAsync(default);
        }

        await Task.Delay(500);
        var all = received.ToList();
        Assert.Equal([503, 200], all.Select(r => r.Status));
        var alert = all[1].Body.GetProperty("alerts")[0];
        Assert.Equal("HaloFailover", alert.GetProperty("labels").GetProperty("alertname").GetString());
        Assert.Equal("cache", alert.GetProperty("labels").GetProperty("group").GetString());
        Assert.Contains("r1", alert.GetProperty("annotations").GetProperty("summary").GetString(), StringComparison.Ordinal);

        var events = JsonDocument.Parse(await http.GetStringAsync("/v1/events?type=alert")).RootElement.GetProperty("events");
        var record = Assert.Single(events.EnumerateArray().ToList());
        Assert.Equal("delivered", record.GetProperty("to").GetString());
        Assert.Equal(2, record.GetProperty("evidence").GetProperty("attempts").GetInt32());

        await app.StopAsync();
    }
}
