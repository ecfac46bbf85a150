using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Halo.Core.Serialization;
using Halo.Server.Detection;
using Halo.Server.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Halo.Server.Tests.Security;

/// <summary>Server-run checks reach only server.checks.allowedNetworks, at registration and at every connect, and never follow a redirect.</summary>
public sealed class CheckNetworkTests
{
    private static ServerOptions Allowing(params string[] networks) => new() { Security = new() { AllowedCheckNetworks = networks } };

    private static object Checked(string address, int port, string type = "http") =>
        new { address, port, ttl = "1s", check = new { type, path = "/healthz", interval = "1s", timeout = "500ms" } };

    [Theory]
    [InlineData("169.254.169.254")]
    [InlineData("10.1.2.3")]
    [InlineData("::ffff:169.254.169.254")]
    public async Task Register_CheckOutsideDefaultNetworks_Refused400NamingAddressNothingStored(string address)
    {
        await using var server = await ServerFixture.StartAsync();
        var before = await server.Store.GetRevisionAsync(CancellationToken.None);

        using var response = await server.RegisterAsync("web", "w1", Checked(address, 80));

        await AssertRefusedAsync(response, "169.254.169.254" == address ? address : null);
        Assert.Equal(before, await server.Store.GetRevisionAsync(CancellationToken.None));
        using var list = await server.Http.GetAsync("/v1/services/web/instances");
        Assert.DoesNotContain("w1", await list.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Register_ConfiguredNetworks_OnlyThoseAccepted()
    {
        await using var server = await ServerFixture.StartAsync(Allowing("10.0.0.0/8"));

        using var inside = await server.RegisterAsync("web", "w1", Checked("10.1.2.3", 80, "tcp"));
        using var loopback = await server.RegisterAsync("web", "w2", Checked("127.0.0.1", 80));
        using var name = await server.RegisterAsync("web", "w3", Checked("localhost", 80));
        using var unresolvable = await server.RegisterAsync("web", "w4", Checked("no-such-host.invalid", 80));
        using var noCheck = await server.RegisterAsync("web", "w5", new { address = "169.254.169.254", port = 80 });

        Assert.Equal(HttpStatusCode.Created, inside.StatusCode);
        await AssertRefusedAsync(loopback, "127.0.0.1");
        await AssertRefusedAsync(name, "localhost");
        await AssertRefusedAsync(unresolvable, "no-such-host.invalid");
        // Without a server-run check the server never dials the address (ownAddressOnly limits that).
        Assert.Equal(HttpStatusCode.Created, noCheck.StatusCode);
    }

    [Theory]
    [InlineData("http")]
    [InlineData("tcp")]
    public async Task Check_StoredTargetOutsideNetworks_NeverConnected(string type)
    {
        // A registration accepted by a server allowing loopback, then checked by one that does not (as after a config
        // change, or a name that now resolves elsewhere): the connect itself is refused, so the target sees nothing.
        await using var target = await Target.StartAsync(StatusCodes.Status200OK);
        await using var first = await ServerFixture.StartAsync();
        using (var registered = await first.RegisterAsync("web", "w1", Checked("127.0.0.1", target.Port, type)))
        {
            Assert.Equal(HttpStatusCode.Created, registered.StatusCode);
        }

        await first.App.StopAsync();
        await using var second = await first.StartPeerAsync(Allowing("10.0.0.0/8"));

        await RunChecksAsync(second, TimeSpan.FromSeconds(6));

        Assert.Equal(0, target.Connections);
        Assert.Equal("critical", await HealthAsync(second));
    }

    [Fact]
    public async Task HttpCheck_Redirect_NotFollowedAndFails()
    {
        await using var server = await ServerFixture.StartAsync();
        await using var target = await Target.StartAsync(StatusCodes.Status302Found);
        (await server.RegisterAsync("web", "w1", Checked("127.0.0.1", target.Port))).Dispose();

        await RunChecksAsync(server, TimeSpan.FromSeconds(6));

        Assert.True(target.Hits >= 2, $"the check should have run, ran {target.Hits} times");
        Assert.Equal(0, target.RedirectedHits);
        Assert.Equal("critical", await HealthAsync(server));
    }

    [Fact]
    public async Task ConnectAsync_NameRebindsToRefusedAddress_NotConnected()
    {
        var answers = new Queue<IPAddress[]>([[IPAddress.Loopback], [IPAddress.Parse("169.254.169.254")]]);
        var policy = new CheckNetworkPolicy(new SecurityOptions(), new ServerOptions(), (_, _) => Task.FromResult(answers.Dequeue()));

        Assert.Null(await policy.RefusalAsync("rebind.example", CancellationToken.None));
        var error = await Assert.ThrowsAsync<CheckRefusedException>(() => policy.ConnectAsync("rebind.example", 80, CancellationToken.None));

        Assert.Contains("169.254.169.254", error.Message, StringComparison.Ordinal);
        Assert.Contains(CheckNetworkPolicy.Key, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Defaults_Wildcard_InterfacesAndLoopbackNeverLinkLocal()
    {
        var policy = new CheckNetworkPolicy(new SecurityOptions(), new ServerOptions { Listen = "http://0.0.0.0:7400" });
        var loopbackOnly = new CheckNetworkPolicy(new SecurityOptions(), new ServerOptions());

        Assert.True(policy.Allows(IPAddress.Loopback));
        Assert.True(policy.Allows(IPAddress.IPv6Loopback));
        Assert.False(policy.Allows(IPAddress.Parse("169.254.169.254")));
        Assert.False(policy.Allows(IPAddress.Parse("fe80::1")));
        foreach (var address in System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == System.Net.NetworkInformation.OperationalStatus.Up)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses).Select(u => u.Address)
            .Where(a => !a.IsIPv6LinkLocal && a.GetAddressBytes() is not [169, 254, ..]))
        {
            Assert.True(policy.Allows(address), $"{address} is on an interface of this host");
        }

        Assert.True(loopbackOnly.Allows(IPAddress.Parse("127.0.0.2")));
        Assert.False(loopbackOnly.Allows(IPAddress.Parse("192.168.1.1")));
        Assert.False(loopbackOnly.Allows(IPAddress.Parse("8.8.8.8")));
    }

    [Theory]
    [InlineData("10.0.0.0/33")]
    [InlineData("10.0.0.0/8x")]
    [InlineData("example.com")]
    public async Task Start_BadAllowedNetwork_RefusedNamingKey(string network)
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(async () => await (await ServerFixture.StartAsync(Allowing(network))).DisposeAsync());

        Assert.Contains("checks.allowedNetworks:", error.Message, StringComparison.Ordinal);
        Assert.Contains(network, error.Message, StringComparison.Ordinal);
    }

    private static async Task AssertRefusedAsync(HttpResponseMessage response, string? named)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode} {body}");
        Assert.StartsWith("application/problem+json", response.Content.Headers.ContentType?.ToString(), StringComparison.Ordinal);
        var message = JsonDocument.Parse(body).RootElement.GetProperty("errors").GetProperty("address")[0].GetString()!;
        Assert.Contains(CheckNetworkPolicy.Key, message, StringComparison.Ordinal);
        if (named is not null)
        {
            Assert.Contains(named, message, StringComparison.Ordinal);
        }
    }

    /// <summary>Advances the fake clock a second at a time, starts the due checks, lets them finish, runs a detector pass.</summary>
    private static async Task RunChecksAsync(ServerFixture server, TimeSpan duration)
    {
        var checks = server.App.Services.GetServices<IHostedService>().OfType<ActiveCheckLoop>().Single();
        for (var t = TimeSpan.Zero; t < duration; t += TimeSpan.FromSeconds(1))
        {
            server.Time.Advance(TimeSpan.FromSeconds(1));
            checks.StartDueChecks(CancellationToken.None);
            await Task.Delay(150); // a failing check has nothing to wait for; its timeout is 500 ms of the fake clock
            await server.AdvanceAsync(TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(1));
        }
    }

    private static async Task<string?> HealthAsync(ServerFixture server) =>
        (await server.GetJsonAsync("/v1/services/web/instances")).GetProperty("instances")[0].GetProperty("health").GetString();

    /// <summary>An HTTP listener counting connections and requests; a 302 points at /elsewhere on itself (an allowed address).</summary>
    private sealed class Target(WebApplication app) : IAsyncDisposable
    {
        private int _hits;
        private int _redirected;
        private int _connections;

        public int Hits => Volatile.Read(ref _hits);

        public int RedirectedHits => Volatile.Read(ref _redirected);

        public int Connections => Volatile.Read(ref _connections);

        public int Port => HaloServerHost.Address(app).Port;

        public static async Task<Target> StartAsync(int status)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            Target? target = null;
            builder.WebHost.ConfigureKestrel(k => k.ConfigureEndpointDefaults(l => l.Use(next => connection =>
            {
                Interlocked.Increment(ref target!._connections);
                return next(connection);
            })));
            var app = builder.Build();
            target = new Target(app);
            app.MapGet("/healthz", (HttpContext context) =>
            {
                Interlocked.Increment(ref target._hits);
                if (status == StatusCodes.Status302Found)
                {
                    context.Response.Headers.Location = "/elsewhere";
                }

                return Results.StatusCode(status);
            });
            app.MapGet("/elsewhere", () => { Interlocked.Increment(ref target._redirected); return Results.Ok(); });
            await app.StartAsync();
            return target;
        }

        public async ValueTask DisposeAsync() => await app.DisposeAsync();
    }
}
