using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Halo.Server.Detection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Halo.Server.Tests;

/// <summary>Server-run HTTP and TCP checks against real listeners: a pass counts as a heartbeat, a failure does not.</summary>
public sealed class ActiveCheckTests
{
    [Fact]
    public async Task HttpCheck_TargetHealthy_StaysPassingWithoutHeartbeats()
    {
        await using var server = await ServerFixture.StartAsync();
        await using var target = await StartTargetAsync(StatusCodes.Status200OK);
        (await server.RegisterAsync("web", "web-1", new { address = "127.0.0.1", port = target.Port, ttl = "1s", check = new { type = "http", path = "/healthz", interval = "1s", timeout = "500ms" } })).Dispose();

        await RunChecksAsync(server, TimeSpan.FromSeconds(8), expectHeartbeats: true);

        Assert.Equal("passing", await HealthAsync(server));
        Assert.True(target.Hits >= 7, $"the check should have run about once a second, ran {target.Hits} times");
    }

    [Fact]
    public async Task HttpCheck_TargetAnswers500_GoesCritical()
    {
        await using var server = await ServerFixture.StartAsync();
        await using var target = await StartTargetAsync(StatusCodes.Status500InternalServerError);
        (await server.RegisterAsync("web", "web-1", new { address = "127.0.0.1", port = target.Port, ttl = "1s", check = new { type = "http", interval = "1s", timeout = "500ms" } })).Dispose();

        await RunChecksAsync(server, TimeSpan.FromSeconds(6), expectHeartbeats: false);

        Assert.Equal("critical", await HealthAsync(server));
        Assert.True(target.Hits >= 3);
    }

    [Fact]
    public async Task TcpCheck_ListenerClosed_GoesCritical()
    {
        await using var server = await ServerFixture.StartAsync();
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        (await server.RegisterAsync("db", "db-1", new { address = "127.0.0.1", port, ttl = "1s", check = new { type = "tcp", interval = "1s", timeout = "500ms" } })).Dispose();
        await RunChecksAsync(server, TimeSpan.FromSeconds(4), expectHeartbeats: true, service: "db");
        Assert.Equal("passing", await HealthAsync(server, "db"));

        listener.Stop();
        await RunChecksAsync(server, TimeSpan.FromSeconds(6), expectHeartbeats: false, service: "db");

        Assert.Equal("critical", await HealthAsync(server, "db"));
    }

    /// <summary>Advances the fake clock a second at a time; after each step waits (bounded) for the check to land, then runs a detector pass.</summary>
    private static async Task RunChecksAsync(ServerFixture server, TimeSpan duration, bool expectHeartbeats, string service = "web")
    {
        var checks = server.App.Services.GetServices<IHostedService>().OfType<ActiveCheckLoop>().Single();
        for (var t = TimeSpan.Zero; t < duration; t += TimeSpan.FromSeconds(1))
        {
            server.Time.Advance(TimeSpan.FromSeconds(1));
            checks.StartDueChecks(CancellationToken.None);
            if (expectHeartbeats)
            {
                var clock = Stopwatch.StartNew();
                while (await LastHeartbeatAsync(server, service) != server.Time.GetUtcNow())
                {
                    Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), "the check should record a heartbeat");
                    await Task.Delay(20);
                }
            }
            else
            {
                await Task.Delay(100); // let a (failing) check finish; nothing to wait for on success
            }

            await server.AdvanceAsync(TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(1)); // one detector pass
        }
    }

    private static async Task<DateTimeOffset?> LastHeartbeatAsync(ServerFixture server, string service)
    {
        var i = (await server.GetJsonAsync($"/v1/services/{service}/instances")).GetProperty("instances")[0];
        return i.TryGetProperty("lastHeartbeat", out var hb) && hb.ValueKind == JsonValueKind.String ? hb.GetDateTimeOffset() : null;
    }

    private static async Task<string?> HealthAsync(ServerFixture server, string service = "web") =>
        (await server.GetJsonAsync($"/v1/services/{service}/instances")).GetProperty("instances")[0].GetProperty("health").GetString();

    private static async Task<Target> StartTargetAsync(int status)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var target = new Target(app);
        app.MapGet("/healthz", () => { Interlocked.Increment(ref target.HitCount); return Results.StatusCode(status); });
        await app.StartAsync();
        return target;
    }

    private sealed class Target(WebApplication app) : IAsyncDisposable
    {
        public int HitCount;

        public int Hits => Volatile.Read(ref HitCount);

        public int Port => HaloServerHost.Address(app).Port;

        public async ValueTask DisposeAsync() => await app.DisposeAsync();
    }
}
