using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Halo.Core.Serialization;

namespace Halo.Server.Tests.Security;

/// <summary>server.registrations.ownAddressOnly: a register token registers only its connection's address, against a real server.</summary>
public sealed class OwnAddressTests
{
    private static readonly ServerOptions OwnOnly = new() { Security = new() { OwnAddressOnly = true } };

    [Theory]
    [InlineData("10.1.2.3")]
    [InlineData("127.0.0.2")]
    [InlineData("localhost")]
    [InlineData("::1")]
    public async Task Register_RegisterTokenOtherAddress_Refused403NothingStored(string address)
    {
        await using var server = await ServerFixture.StartAsync(OwnOnly);
        using var instance = server.Client(await server.CreateTokenAsync("web-1", "register", services: ["web"]));
        var before = await server.Store.GetRevisionAsync(CancellationToken.None);

        using var response = await Register(instance, "w1", address);

        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Forbidden, $"{(int)response.StatusCode} {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var message = JsonDocument.Parse(body).RootElement.GetProperty("errors").GetProperty("address")[0].GetString()!;
        Assert.Contains("server.registrations.ownAddressOnly", message, StringComparison.Ordinal);
        Assert.Contains("127.0.0.1", message, StringComparison.Ordinal);
        Assert.Equal(before, await server.Store.GetRevisionAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Register_RegisterTokenOwnAddress_Accepted()
    {
        await using var server = await ServerFixture.StartAsync(OwnOnly);
        using var instance = server.Client(await server.CreateTokenAsync("web-1", "register", services: ["web"]));

        using var created = await Register(instance, "w1", "127.0.0.1");
        using var updated = await Register(instance, "w1", "::ffff:127.0.0.1");

        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal(HttpStatusCode.OK, updated.StatusCode);
    }

    [Theory]
    [InlineData("operate")]
    [InlineData("admin")]
    public async Task Register_OperatorToken_AnyAddress(string role)
    {
        await using var server = await ServerFixture.StartAsync(OwnOnly);
        using var operatorClient = server.Client(await server.CreateTokenAsync("ops", role));

        using var response = await Register(operatorClient, "w1", "10.1.2.3");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }

    [Fact]
    public async Task Register_OptionOff_RegisterTokenAnyAddress()
    {
        await using var server = await ServerFixture.StartAsync();
        using var instance = server.Client(await server.CreateTokenAsync("web-1", "register", services: ["web"]));

        using var response = await Register(instance, "w1", "10.1.2.3");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }

    private static Task<HttpResponseMessage> Register(HttpClient client, string id, string address) =>
        client.PutAsJsonAsync($"/v1/services/web/instances/{id}", new { address, port = 8080 }, HaloJson.Options);
}
