using System.Net;
using Microsoft.AspNetCore.Builder;

namespace Halo.Client.Tests;

/// <summary>Server-list failover with real servers: a dead or failing server is skipped and the one that answers is kept.</summary>
public sealed class ServerFailoverTests
{
    private static readonly object Instance = new { address = "127.0.0.1", port = 8080, ttl = "10s" };

    [Fact]
    public async Task Call_FirstServerDown_AnsweredByNextAndRemembered()
    {
        await using var servers = await Servers.StartAsync();
        var (a, urlA) = await servers.AddServerAsync();
        var (_, urlB) = await servers.AddServerAsync();
        using var client = new HaloClient(new HaloClientOptions { Servers = [urlA, urlB] });

        await client.RegisterAsync("web", "web-1", Instance);
        Assert.Equal(urlA, client.CurrentServer);

        await Servers.KillAsync(a);
        var record = await client.RegisterAsync("web", "web-2", Instance);

        Assert.Equal("web-2", record.Id);
        Assert.Equal(urlB, client.CurrentServer);
        var list = await client.InstancesAsync("web");
        Assert.Equal(["web-1", "web-2"], list.Instances.Select(i => i.Id).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Call_NoServerAnswers_ThrowsHttpRequestException()
    {
        using var client = new HaloClient(new HaloClientOptions { Servers = [Servers.DeadUrl(), Servers.DeadUrl()] });

        await Assert.ThrowsAsync<HttpRequestException>(() => client.ServicesAsync());
    }

    [Fact]
    public async Task IdempotentCall_FirstServer503_RetriedOnNext()
    {
        await using var servers = await Servers.StartAsync();
        var (_, failing, calls) = await servers.AddFixedAsync(HttpStatusCode.ServiceUnavailable);
        var (_, good) = await servers.AddServerAsync();
        using var client = new HaloClient(new HaloClientOptions { Servers = [failing, good] });

        var record = await client.RegisterAsync("web", "web-1", Instance);

        Assert.Equal("web-1", record.Id);
        Assert.Equal(1, calls());
        Assert.Equal(good, client.CurrentServer);
    }

    [Fact]
    public async Task NonIdempotentCall_FirstServer503_ReturnedThenNextCallGoesToNext()
    {
        await using var servers = await Servers.StartAsync();
        var (_, failing, calls) = await servers.AddFixedAsync(HttpStatusCode.ServiceUnavailable);
        var (_, good) = await servers.AddServerAsync();
        using var client = new HaloClient(new HaloClientOptions { Servers = [failing, good] });

        // A switchover that reached a server may have happened there: it is not sent twice.
        var error = await Assert.ThrowsAsync<HaloApiException>(() => client.Groups.SwitchoverAsync("cache", "cache-2"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, error.Status);
        Assert.Equal("fixed answer 503", error.Message);
        Assert.Equal(1, calls());

        var services = await client.ServicesAsync();
        Assert.Empty(services.Services);
        Assert.Equal(1, calls());
    }

    [Fact]
    public async Task Call_4xx_NotRetriedElsewhere()
    {
        await using var servers = await Servers.StartAsync();
        var (_, refusing, calls) = await servers.AddFixedAsync(HttpStatusCode.Forbidden);
        var (_, good) = await servers.AddServerAsync();
        using var client = new HaloClient(new HaloClientOptions { Servers = [refusing, good] });

        var error = await Assert.ThrowsAsync<HaloApiException>(() => client.ServicesAsync());

        Assert.Equal(HttpStatusCode.Forbidden, error.Status);
        Assert.Equal(refusing, client.CurrentServer);
    }

    [Fact]
    public async Task Call_HungServer_MovesOnAfterAttemptTimeout()
    {
        await using var servers = await Servers.StartAsync();
        using var hung = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        hung.Start(); // accepts connections into its backlog and never answers, as a paused server does
        var hungUrl = new Uri($"http://127.0.0.1:{((IPEndPoint)hung.LocalEndpoint).Port}/");
        var (_, good) = await servers.AddServerAsync();
        using var client = new HaloClient(new HaloClientOptions { Servers = [hungUrl, good], AttemptTimeout = TimeSpan.FromMilliseconds(300) });

        using (var warm = new HaloClient(good))
        {
            await warm.ServicesAsync();
        }

        var started = TimeProvider.System.GetTimestamp();
        var services = await client.ServicesAsync();

        Assert.Empty(services.Services);
        Assert.InRange(TimeProvider.System.GetElapsedTime(started), TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(5));
        Assert.Equal(good, client.CurrentServer);
    }

    [Fact]
    public async Task Token_SentAsBearer()
    {
        await using var servers = await Servers.StartAsync();
        string? seen = null;
        var builder = Microsoft.AspNetCore.Builder.WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrelLoopback();
        await using var app = builder.Build();
        app.MapGet("/v1/services", (Microsoft.AspNetCore.Http.HttpRequest r) =>
        {
            seen = r.Headers.Authorization.ToString();
            return Microsoft.AspNetCore.Http.Results.Json(new { revision = 1, services = Array.Empty<object>() });
        });
        await app.StartAsync();
        using var client = new HaloClient(new HaloClientOptions { Servers = [Halo.Server.HaloServerHost.Address(app)], Token = "t0ken" });

        await client.ServicesAsync();

        Assert.Equal("Bearer t0ken", seen);
    }
}

internal static class KestrelTestExtensions
{
    public static void ConfigureKestrelLoopback(this Microsoft.AspNetCore.Hosting.IWebHostBuilder web) =>
        Microsoft.AspNetCore.Hosting.WebHostBuilderKestrelExtensions.ConfigureKestrel(web, k => k.Listen(IPAddress.Loopback, 0));
}
