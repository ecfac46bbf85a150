using System.Net;

namespace Halo.Server.Tests.Monitoring;

/// <summary>The dashboard is served from embedded resources at the root, same-origin only.</summary>
public sealed class DashboardTests
{
    [Theory]
    [InlineData("/", "text/html", "<main>")]
    [InlineData("/dashboard/dashboard.js", "text/javascript", "EventSource")]
    [InlineData("/dashboard/dashboard.css", "text/css", "--crit")]
    public async Task Get_DashboardFile_ServedWithTypeAndPolicy(string path, string type, string content)
    {
        await using var server = await ServerFixture.StartAsync();

        using var response = await server.Http.GetAsync(path);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(type, response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("default-src 'self'", response.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        Assert.Contains(content, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/dashboard/missing.js")]
    [InlineData("/dashboard/DashboardEndpoints.cs")]
    [InlineData("/dashboard/..%2Fappsettings.json")]
    public async Task Get_UnknownDashboardFile_ProblemNotFound(string path)
    {
        await using var server = await ServerFixture.StartAsync();

        using var response = await server.Http.GetAsync(path);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Get_Index_EveryFormControlLabelled()
    {
        await using var server = await ServerFixture.StartAsync();

        var html = await server.Http.GetStringAsync("/");

        // The page's only form control (the event filter) has a <label for>; the language is declared for screen readers.
        Assert.Contains("<html lang=\"en\">", html, StringComparison.Ordinal);
        Assert.Contains("<label for=\"event-filter\">", html, StringComparison.Ordinal);
        Assert.Contains("role=\"log\"", html, StringComparison.Ordinal);
    }
}
