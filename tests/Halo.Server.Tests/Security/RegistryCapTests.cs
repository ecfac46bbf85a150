using System.Net;
using System.Text.Json;
using Halo.Core.Configuration;

namespace Halo.Server.Tests.Security;

/// <summary>server.limits caps on what the registry stores (services, instances per service), against a real server.</summary>
public sealed class RegistryCapTests
{
    private static ServerOptions With(LimitOptions limits) => new() { Security = new() { Limits = limits } };

    [Fact]
    public async Task Register_PastMaxInstancesPerService_Refused409NothingStored()
    {
        await using var server = await ServerFixture.StartAsync(With(new() { MaxInstancesPerService = 2 }));
        Assert.Equal(HttpStatusCode.Created, (await server.RegisterAsync("web", "a")).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await server.RegisterAsync("web", "b")).StatusCode);
        var before = await server.Store.GetRevisionAsync();

        using var third = await server.RegisterAsync("web", "c");

        await AssertOverLimitAsync(third, "limits.maxInstancesPerService");
        Assert.Equal(before, await server.Store.GetRevisionAsync());
        Assert.Equal(2, (await server.GetJsonAsync("/v1/services/web/instances")).GetProperty("instances").GetArrayLength());
        // Updating an instance already there adds nothing, and another service has its own room.
        Assert.Equal(HttpStatusCode.OK, (await server.RegisterAsync("web", "a", new { address = "127.0.0.1", port = 9090 })).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await server.RegisterAsync("api", "c")).StatusCode);
        // Room comes back when an instance leaves.
        Assert.Equal(HttpStatusCode.NoContent, (await server.Http.DeleteAsync("/v1/services/web/instances/b")).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await server.RegisterAsync("web", "c")).StatusCode);
    }

    [Fact]
    public async Task Register_PastMaxServices_Refused409NothingStored()
    {
        await using var server = await ServerFixture.StartAsync(With(new() { MaxServices = 2 }));
        Assert.Equal(HttpStatusCode.Created, (await server.RegisterAsync("web", "a")).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await server.RegisterAsync("api", "a")).StatusCode);
        var before = await server.Store.GetRevisionAsync();

        using var third = await server.RegisterAsync("db", "a");

        await AssertOverLimitAsync(third, "limits.maxServices");
        Assert.Equal(before, await server.Store.GetRevisionAsync());
        using var unknown = await server.Http.GetAsync("/v1/services/db/instances");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        // More instances of a service already there are not a new service.
        Assert.Equal(HttpStatusCode.Created, (await server.RegisterAsync("web", "b")).StatusCode);
        // A service whose last instance left no longer counts.
        Assert.Equal(HttpStatusCode.NoContent, (await server.Http.DeleteAsync("/v1/services/api/instances/a")).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await server.RegisterAsync("db", "a")).StatusCode);
    }

    private static async Task AssertOverLimitAsync(HttpResponseMessage response, string key)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Conflict, $"{(int)response.StatusCode} {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.True(JsonDocument.Parse(body).RootElement.GetProperty("errors").TryGetProperty(key, out _), body);
    }
}
