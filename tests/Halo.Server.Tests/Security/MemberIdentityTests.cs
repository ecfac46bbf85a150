using System.Net;

namespace Halo.Server.Tests.Security;

/// <summary>An agent's token speaks for its own member only: a report in another member's name changes nothing.</summary>
public sealed class MemberIdentityTests
{
    private static StringContent Report(string address) =>
        RouteAccessTests.Json($$"""{"address":"{{address}}","role":"primary","epoch":0,"dbUp":true,"healthy":true,"offset":100}""");

    [Fact]
    public async Task Report_InAnotherMembersName_Forbidden403AndNothingStored()
    {
        await using var server = await ServerFixture.StartAsync();
        Assert.True((await server.Http.PutAsync("/v1/groups/cache", RouteAccessTests.Json("{}"))).IsSuccessStatusCode);
        using var r1 = server.Client(await server.CreateTokenAsync("agent-r1", "register", member: "cache/r1"));
        using var r2 = server.Client(await server.CreateTokenAsync("agent-r2", "register", member: "cache/r2"));
        using var plain = server.Client(await server.CreateTokenAsync("instances", "register"));
        Assert.Equal(HttpStatusCode.OK, (await r1.PostAsync("/v1/groups/cache/members/r1/report", Report("127.0.0.1:6379"))).StatusCode);

        var forged = await r2.PostAsync("/v1/groups/cache/members/r1/report", Report("10.9.9.9:6379"));
        var unbound = await plain.PostAsync("/v1/groups/cache/members/r1/report", Report("10.9.9.9:6379"));
        var other = await r1.PostAsync("/v1/groups/other/members/r1/report", Report("10.9.9.9:6379"));

        Assert.Equal(HttpStatusCode.Forbidden, forged.StatusCode);
        Assert.Contains("reports only as cache/r2", await forged.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, unbound.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, other.StatusCode);
        var members = (await server.GetJsonAsync("/v1/groups/cache")).GetProperty("members").EnumerateArray().ToList();
        var stored = Assert.Single(members);
        Assert.Equal("127.0.0.1:6379", stored.GetProperty("address").GetString());
    }

    [Fact]
    public async Task MemberToken_OtherWrites_Forbidden()
    {
        await using var server = await ServerFixture.StartAsync();
        Assert.True((await server.Http.PutAsync("/v1/groups/cache", RouteAccessTests.Json("{}"))).IsSuccessStatusCode);
        using var r1 = server.Client(await server.CreateTokenAsync("agent-r1", "register", member: "cache/r1"));

        Assert.Equal(HttpStatusCode.Forbidden, (await r1.PostAsync("/v1/groups/cache/pause", RouteAccessTests.Json("{}"))).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden,
            (await r1.PutAsync("/v1/services/web/instances/w1", RouteAccessTests.Json("""{"address":"127.0.0.1","port":80}"""))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await r1.GetAsync("/v1/groups/cache")).StatusCode);
    }
}
