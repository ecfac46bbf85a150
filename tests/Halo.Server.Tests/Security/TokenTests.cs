using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Halo.Core.Serialization;
using Halo.Server.Security;
using Halo.Store;
using Microsoft.Extensions.DependencyInjection;

namespace Halo.Server.Tests.Security;

public sealed class TokenTests
{
    [Fact]
    public async Task Bootstrap_FirstStart_WritesAdminTokenReadableByOwnerOnly()
    {
        await using var server = await ServerFixture.StartAsync();
        var path = Path.Combine(server.Directory, BootstrapToken.FileName);

        Assert.True(File.Exists(path));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        }

        Assert.True(server.AdminToken!.Length >= 43, "256 random bits, base64url");
        using var tokens = await server.Http.GetAsync("/v1/tokens");
        var body = await tokens.Content.ReadAsStringAsync();
        Assert.Contains("\"bootstrap\"", body, StringComparison.Ordinal);
        Assert.DoesNotContain(server.AdminToken, body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Store_HoldsOnlyTheHash_NeverTheSecret()
    {
        await using var server = await ServerFixture.StartAsync();
        var secret = await server.CreateTokenAsync("reader", "read");

        var stored = await server.Store.ListAsync(TokenService.Prefix);

        var text = string.Join('\n', stored.Items.Select(kv => System.Text.Encoding.UTF8.GetString(kv.Value.Span)));
        Assert.DoesNotContain(secret, text, StringComparison.Ordinal);
        Assert.DoesNotContain(server.AdminToken!, text, StringComparison.Ordinal);
        Assert.Contains(Convert.ToHexStringLower(TokenSecret.Hash(secret)), text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bootstrap_TwoServersShareOneSecret_TheOneThatLosesTheRaceStillStarts()
    {
        // Two servers over one store, started together with the same secret file: the second decided to create the
        // token before the first's write reached it, so its create fails; it must see the first's token and go on.
        var dir = Path.Combine(Path.GetTempPath(), "halo-race-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, BootstrapToken.FileName);
        await TokenSecret.WriteFileAsync(path, TokenSecret.New(), CancellationToken.None);
        await using var store = await EmbeddedStore.OpenAsync(dir, new EmbeddedStoreOptions(), TimeProvider.System);
        var first = new TokenService(store, TimeProvider.System);
        var second = new TokenService(store, TimeProvider.System);
        await first.LoadAsync(CancellationToken.None);
        await second.LoadAsync(CancellationToken.None);

        await BootstrapToken.EnsureAsync(first, path, CancellationToken.None);
        await BootstrapToken.EnsureAsync(second, path, CancellationToken.None);

        var secret = (await File.ReadAllTextAsync(path)).Trim();
        Assert.Equal("bootstrap", second.Authenticate(secret)?.Name);
        Assert.Single((await store.ListAsync(TokenService.Prefix)).Items);
    }

    [Fact]
    public async Task Bootstrap_ShortSecretInFile_RefusesToStart()
    {
        var dir = Path.Combine(Path.GetTempPath(), "halo-short-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        await File.WriteAllTextAsync(Path.Combine(dir, BootstrapToken.FileName), "changeme\n");
        await using var store = await EmbeddedStore.OpenAsync(dir, new EmbeddedStoreOptions(), TimeProvider.System);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            HaloServerHost.BuildAsync(new ServerOptions { Listen = "http://127.0.0.1:0", DataDirectory = dir }, store));

        Assert.Contains("at least 32 characters", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Build_AnonymousOnNonLoopback_Refused()
    {
        var dir = Path.Combine(Path.GetTempPath(), "halo-anon-" + Guid.NewGuid().ToString("N"));
        await using var store = await EmbeddedStore.OpenAsync(dir, new EmbeddedStoreOptions(), TimeProvider.System);
        var options = new ServerOptions { Listen = "http://0.0.0.0:0", DataDirectory = dir, Security = new() { AllowAnonymous = true } };

        var error = await Assert.ThrowsAsync<ArgumentException>(() => HaloServerHost.BuildAsync(options, store));

        Assert.Contains("--insecure-allow-anonymous is refused", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Revoke_TokenInUse_StopsWorkingWithinASecond()
    {
        await using var server = await ServerFixture.StartAsync();
        var secret = await server.CreateTokenAsync("short-lived", "read");
        using var client = server.Client(secret);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v1/services")).StatusCode);

        var revoked = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(HttpStatusCode.NoContent, (await server.Http.DeleteAsync("/v1/tokens/short-lived")).StatusCode);
        var status = (await client.GetAsync("/v1/services")).StatusCode;

        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.True(revoked.Elapsed < TimeSpan.FromSeconds(1), $"took {revoked.Elapsed}");
    }

    [Fact]
    public async Task Revoke_ThroughTheStoreByAnotherServer_StopsWorkingWithinASecond()
    {
        await using var server = await ServerFixture.StartAsync();
        var secret = await server.CreateTokenAsync("elsewhere", "read");
        using var client = server.Client(secret);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v1/services")).StatusCode);

        // Another server sharing the store revokes it: this one learns through its watch.
        await server.Store.DeleteAsync(TokenService.Prefix + "elsewhere");
        var sw = System.Diagnostics.Stopwatch.StartNew();
        HttpStatusCode status;
        do
        {
            status = (await client.GetAsync("/v1/services")).StatusCode;
        }
        while (status != HttpStatusCode.Unauthorized && sw.Elapsed < TimeSpan.FromSeconds(5));

        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(1), $"took {sw.Elapsed}");
    }

    [Fact]
    public async Task Create_BadFields_ProblemNamesEachField()
    {
        await using var server = await ServerFixture.StartAsync();

        using var response = await server.Http.PostAsJsonAsync("/v1/tokens", new { name = "bad name", role = "root", member = "x" }, HaloJson.Options);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var errors = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("errors");
        Assert.True(errors.TryGetProperty("name", out _));
        Assert.True(errors.TryGetProperty("role", out _));
        Assert.True(errors.TryGetProperty("member", out _));
    }

    [Fact]
    public async Task Create_DuplicateName_Conflict()
    {
        await using var server = await ServerFixture.StartAsync();
        await server.CreateTokenAsync("twice", "read");

        using var response = await server.Http.PostAsJsonAsync("/v1/tokens", new { name = "twice", role = "read" }, HaloJson.Options);

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
    }

    [Fact]
    public async Task ScopedToken_OtherService_Forbidden()
    {
        await using var server = await ServerFixture.StartAsync();
        var secret = await server.CreateTokenAsync("web-only", "register", services: ["web"]);
        using var client = server.Client(secret);

        var own = await client.PutAsync("/v1/services/web/instances/w1", RouteAccessTests.Json("""{"address":"127.0.0.1","port":8080}"""));
        var other = await client.PutAsync("/v1/services/db/instances/d1", RouteAccessTests.Json("""{"address":"127.0.0.1","port":8080}"""));
        var batch = await client.PostAsync("/v1/heartbeats", RouteAccessTests.Json("""{"instances":[{"service":"web","id":"w1"},{"service":"db","id":"d1"}]}"""));

        Assert.Equal(HttpStatusCode.Created, own.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, other.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, batch.StatusCode);
        Assert.Contains("instances[1]", await batch.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await server.Http.GetAsync("/v1/services/db/instances")).StatusCode);
    }

    [Fact]
    public async Task ScopedToken_ReadsEveryService_WritesOnlyItsOwn()
    {
        // An application that registers as "orders" and discovers "web" through the change feed, with one scoped token.
        await using var server = await ServerFixture.StartAsync();
        await server.RegisterAsync("web", "w1");
        var secret = await server.CreateTokenAsync("orders-app", "register", services: ["orders"]);
        using var client = server.Client(secret);

        using var feed = await client.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/v1/watch?from=0"), HttpCompletionOption.ResponseHeadersRead);
        using var instances = await client.GetAsync("/v1/services/web/instances");
        using var catalog = await client.GetAsync("/v1/catalog");
        using var register = await client.PutAsync("/v1/services/web/instances/w2", RouteAccessTests.Json("""{"address":"127.0.0.1","port":8080}"""));
        using var heartbeat = await client.PostAsync("/v1/services/web/instances/w1/heartbeat", null);

        Assert.Equal(HttpStatusCode.OK, feed.StatusCode);
        Assert.Equal(HttpStatusCode.OK, instances.StatusCode);
        Assert.Equal(HttpStatusCode.OK, catalog.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, register.StatusCode);
        Assert.Contains("does not cover service web", await register.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, heartbeat.StatusCode);
    }

    [Fact]
    public async Task FailedAuthentications_PastTheLimit_RateLimitedAndCounted()
    {
        await using var server = await ServerFixture.StartAsync(new ServerOptions { Security = new() { AuthFailuresPerSource = 5 } });
        using var wrong = server.Client("halo_" + new string('y', 43));
        // Counted on this server's own meter: the /metrics text would also count other servers' meters in this test process.
        using var failures = new Microsoft.Extensions.Diagnostics.Metrics.Testing.MetricCollector<long>(
            server.App.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), Halo.Server.Telemetry.RegistryMetrics.MeterName, "halo.security.auth.failures");

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 8; i++)
        {
            statuses.Add((await wrong.GetAsync("/v1/services")).StatusCode);
        }

        Assert.Equal(Enumerable.Repeat(HttpStatusCode.Unauthorized, 5), statuses.Take(5));
        Assert.All(statuses.Skip(5), s => Assert.Equal(HttpStatusCode.TooManyRequests, s));
        // The source (127.0.0.1, shared with the admin client here) is locked out for the rest of its 10 s window.
        Assert.Equal(HttpStatusCode.TooManyRequests, (await server.Http.GetAsync("/v1/services")).StatusCode);
        server.Time.Advance(TimeSpan.FromSeconds(11));
        var metrics = await (await server.Http.GetAsync("/metrics")).Content.ReadAsStringAsync();
        Assert.Matches("halo_security_auth_failures_total\\{[^}]*reason=\"unknown\"", metrics);
        Assert.Equal(5, failures.GetMeasurementSnapshot().Where(m => m.Tags["reason"] as string == "unknown").Sum(m => m.Value));
        Assert.Equal(4, failures.GetMeasurementSnapshot().Where(m => m.Tags["reason"] as string == "rate_limited").Sum(m => m.Value));
    }

    [Fact]
    public async Task MutatingCall_Succeeds_EventNamesTokenRoleAndAddress()
    {
        await using var server = await ServerFixture.StartAsync();
        var secret = await server.CreateTokenAsync("ops", "operate");
        using var ops = server.Client(secret);
        await server.RegisterAsync("web", "w1");

        Assert.Equal(HttpStatusCode.OK, (await ops.PutAsync("/v1/services/web/instances/w1/drain", RouteAccessTests.Json("""{"draining":true}"""))).StatusCode);

        var events = (await server.GetJsonAsync("/v1/events?type=draining")).GetProperty("events").EnumerateArray().ToList();

        var actor = Assert.Single(events).GetProperty("actor");
        Assert.Equal("ops", actor.GetProperty("token").GetString());
        Assert.Equal("operate", actor.GetProperty("role").GetString());
        Assert.Equal("127.0.0.1", actor.GetProperty("address").GetString());
    }

    [Fact]
    public async Task MutatingCall_RecordingNoEventOfItsOwn_GetsAnAuditEvent()
    {
        await using var server = await ServerFixture.StartAsync();

        var secret = await server.CreateTokenAsync("made-by-admin", "read");
        await server.Http.DeleteAsync("/v1/tokens/made-by-admin");

        var audits = (await server.GetJsonAsync("/v1/events?type=audit")).GetProperty("events").EnumerateArray().ToList();
        Assert.Equal(["POST /v1/tokens", "DELETE /v1/tokens/{token}"], audits.Select(e => e.GetProperty("evidence").GetProperty("action").GetString()));
        Assert.All(audits, e => Assert.Equal("bootstrap", e.GetProperty("actor").GetProperty("token").GetString()));
        Assert.All(audits, e => Assert.DoesNotContain(secret, e.ToString(), StringComparison.Ordinal));
    }
}
