using System.Net;
using System.Text;
using System.Text.Json;

namespace Halo.Server.Tests;

/// <summary>Malformed or out-of-range input answers 4xx problem+json naming the field, and nothing is persisted.</summary>
public sealed class BadInputTests
{
    public static TheoryData<string, string, string, string, int> Cases => new()
    {
        // method, path, body, field named in errors, status
        { "PUT", "/v1/services/web/instances/w1", "{not json", "body", 400 },
        { "PUT", "/v1/services/web/instances/w1", "{\"address\":\"127.0.0.1\"}", "port", 400 },
        { "PUT", "/v1/services/web/instances/w1", "{\"address\":\"127.0.0.1\",\"port\":70000}", "port", 400 },
        { "PUT", "/v1/services/web/instances/w1", "{\"address\":\"127.0.0.1\",\"port\":\"80\"}", "port", 400 },
        { "PUT", "/v1/services/web/instances/w1", "{\"port\":80}", "address", 400 },
        { "PUT", "/v1/services/web/instances/w1", "{\"address\":\"not a host!\",\"port\":80}", "address", 400 },
        { "PUT", "/v1/services/web/instances/w1", "{\"address\":\"127.0.0.1\",\"prot\":80}", "prot", 400 },
        { "PUT", "/v1/services/web/instances/w1", "{\"address\":\"127.0.0.1\",\"port\":80,\"weight\":-1}", "weight", 400 },
        { "PUT", "/v1/services/web/instances/w1", "{\"address\":\"127.0.0.1\",\"port\":80,\"ttl\":\"soon\"}", "ttl", 400 },
        { "PUT", "/v1/services/web/instances/w1", "{\"address\":\"127.0.0.1\",\"port\":80,\"ttl\":\"2h\"}", "ttl", 400 },
        { "PUT", "/v1/services/web/instances/w1", "{\"address\":\"127.0.0.1\",\"port\":80,\"zone\":\"a b\"}", "zone", 400 },
        { "PUT", "/v1/services/web/instances/w1", "{\"address\":\"127.0.0.1\",\"port\":80,\"detector\":{\"kind\":\"magic\"}}", "detector.kind", 400 },
        { "PUT", "/v1/services/web/instances/w1", "{\"address\":\"127.0.0.1\",\"port\":80,\"detector\":{\"kind\":\"phiAccrual\",\"phiThreshold\":100}}", "detector.phiThreshold", 400 },
        { "PUT", "/v1/services/web/instances/w1", "{\"address\":\"127.0.0.1\",\"port\":80,\"detector\":{\"downAfter\":0}}", "detector.downAfter", 400 },
        { "PUT", "/v1/services/web/instances/w1", "{\"address\":\"127.0.0.1\",\"port\":80,\"check\":{\"path\":\"healthz\"}}", "check.path", 400 },
        { "PUT", "/v1/services/web/instances/w1", "{\"address\":\"127.0.0.1\",\"port\":80,\"check\":{\"interval\":\"1s\",\"timeout\":\"2s\"}}", "check.timeout", 400 },
        { "PUT", "/v1/services/we%20b/instances/w1", "{\"address\":\"127.0.0.1\",\"port\":80}", "service", 400 },
        { "PUT", "/v1/services/web/instances/-w1", "{\"address\":\"127.0.0.1\",\"port\":80}", "id", 400 },
        { "PUT", "/v1/services/web/instances/w1", "[]", "body", 400 },
        { "PUT", "/v1/services/web/instances/w1", "", "body", 400 },
        { "POST", "/v1/heartbeats", "{\"instances\":[{\"service\":\"web\"}]}", "instances[0]", 400 },
        { "POST", "/v1/heartbeats", "{}", "instances", 400 },
        { "PUT", "/v1/services/web/instances/w1/drain", "{\"draining\":\"yes\"}", "draining", 400 },
        { "GET", "/v1/services/web/instances?health=dead", "", "health", 400 },
        { "GET", "/v1/services/web/instances?index=-4", "", "index", 400 },
        { "GET", "/v1/services/web/instances?index=1&wait=forever", "", "wait", 400 },
        { "GET", "/v1/services/web/instances?index=1&wait=1h", "", "wait", 400 },
        { "GET", "/v1/events?limit=0", "", "limit", 400 },
        { "GET", "/v1/events?type=explosion", "", "type", 400 },
        { "GET", "/v1/events?after=x", "", "after", 400 },
        { "GET", "/v1/watch?from=abc", "", "from", 400 },
        { "GET", "/v1/watch?service=bad%20name", "", "service", 400 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Request_BadInput_ProblemNamingFieldAndNothingPersisted(string method, string path, string body, string field, int status)
    {
        await using var server = await ServerFixture.StartAsync();
        (await server.RegisterAsync("web", "w1")).Dispose();
        var revisionBefore = await server.Store.GetRevisionAsync();

        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (method != "GET")
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        }

        using var response = await server.Http.SendAsync(request);

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), $"errors should name '{field}': {problem}");
        Assert.Equal(revisionBefore, await server.Store.GetRevisionAsync());
    }

    [Fact]
    public async Task Register_OversizedBody_PayloadTooLargeAndNothingPersisted()
    {
        await using var server = await ServerFixture.StartAsync();
        var revisionBefore = await server.Store.GetRevisionAsync();
        var huge = "{\"address\":\"127.0.0.1\",\"port\":80,\"metadata\":{\"k\":\"" + new string('x', 200_000) + "\"}}";

        using var response = await server.Http.PutAsync("/v1/services/web/instances/w1", new StringContent(huge, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(revisionBefore, await server.Store.GetRevisionAsync());
    }

    [Fact]
    public async Task Register_WrongContentType_UnsupportedMediaType()
    {
        await using var server = await ServerFixture.StartAsync();

        using var response = await server.Http.PutAsync("/v1/services/web/instances/w1", new StringContent("address=x", Encoding.UTF8, "text/plain"));

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Instances_UnknownService_NotFoundProblem()
    {
        await using var server = await ServerFixture.StartAsync();

        using var response = await server.Http.GetAsync("/v1/services/ghost/instances");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("ghost", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownRoute_NotFoundProblem()
    {
        await using var server = await ServerFixture.StartAsync();

        using var response = await server.Http.GetAsync("/v1/nothing-here");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }
}
