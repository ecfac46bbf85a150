using System.Net;
using System.Text;

namespace Halo.Server.Tests.Security;

/// <summary>What a web page can make a browser send, answered without changing anything (the Chromium test shows it end to end).</summary>
public sealed class BrowserForgeryTests
{
    [Theory]
    [InlineData("Origin", "http://evil.example")]
    [InlineData("Sec-Fetch-Site", "cross-site")]
    public async Task Pause_CrossOriginMarker_Refused(string header, string value)
    {
        await using var server = await ServerFixture.StartAsync(new ServerOptions { Security = new() { AllowAnonymous = true } });
        Assert.True((await server.Http.PutAsync("/v1/groups/g1", RouteAccessTests.Json("{}"))).IsSuccessStatusCode);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/groups/g1/pause");
        request.Headers.TryAddWithoutValidation(header, value);

        using var response = await server.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.False((await server.GetJsonAsync("/v1/groups/g1")).GetProperty("paused").GetBoolean());
    }

    [Fact]
    public async Task Drill_FormContentType_Refused415()
    {
        await using var server = await ServerFixture.StartAsync(new ServerOptions { Security = new() { AllowAnonymous = true } });

        using var response = await server.Http.PostAsync("/v1/groups/g1/drill", new StringContent("""{"mode":"kill"}""", Encoding.UTF8, "text/plain"));

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
    }

    [Fact]
    public async Task Request_ForeignHostOnLoopbackServer_Refused()
    {
        await using var server = await ServerFixture.StartAsync();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/services");
        request.Headers.Host = "rebind.attacker.example";

        using var response = await server.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.MisdirectedRequest, response.StatusCode);
    }

    [Fact]
    public async Task Request_SameOriginFromDashboard_Allowed()
    {
        await using var server = await ServerFixture.StartAsync();
        Assert.True((await server.Http.PutAsync("/v1/groups/g1", RouteAccessTests.Json("{}"))).IsSuccessStatusCode);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/groups/g1/pause") { Content = RouteAccessTests.Json("{}") };
        request.Headers.TryAddWithoutValidation("Origin", server.Http.BaseAddress!.GetLeftPart(UriPartial.Authority));

        using var response = await server.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}
