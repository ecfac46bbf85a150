using System.Net;
using System.Text.Json;
using Halo.Core.Configuration;
using Halo.Server.Security;
using Microsoft.Extensions.DependencyInjection;

namespace Halo.Server.Tests.Security;

/// <summary>Caps on open streams, request rates and headers, each against a real server on loopback.</summary>
public sealed class LimitTests
{
    private static ServerOptions With(LimitOptions limits) => new() { Security = new() { Limits = limits } };

    [Theory]
    [InlineData("maxStreamsPerToken")]
    [InlineData("maxStreams")]
    [InlineData("requestsPerSecondPerToken")]
    [InlineData("requestsPerSecondPerSource")]
    [InlineData("maxConnections")]
    [InlineData("maxRequestHeaderCount")]
    [InlineData("maxRequestHeadersBytes")]
    [InlineData("requestHeadersTimeout")]
    [InlineData("keepAliveTimeout")]
    [InlineData("maxServices")]
    [InlineData("maxInstancesPerService")]
    public async Task Start_LimitOutOfRange_RefusedNamingKey(string key)
    {
        var limits = key switch
        {
            "maxStreamsPerToken" => new LimitOptions { MaxStreamsPerToken = 0 },
            "maxStreams" => new LimitOptions { MaxStreams = 10_000, MaxConnections = 10_000 },
            "requestsPerSecondPerToken" => new LimitOptions { RequestsPerSecondPerToken = -5 },
            "requestsPerSecondPerSource" => new LimitOptions { RequestsPerSecondPerSource = 0 },
            "maxConnections" => new LimitOptions { MaxConnections = 1 },
            "maxRequestHeaderCount" => new LimitOptions { MaxRequestHeaderCount = 5_000 },
            "maxRequestHeadersBytes" => new LimitOptions { MaxRequestHeadersBytes = 10 },
            "requestHeadersTimeout" => new LimitOptions { RequestHeadersTimeout = TimeSpan.Zero },
            "maxServices" => new LimitOptions { MaxServices = 0 },
            "maxInstancesPerService" => new LimitOptions { MaxInstancesPerService = 2_000_000 },
            _ => new LimitOptions { KeepAliveTimeout = TimeSpan.FromMilliseconds(1) },
        };

        var error = await Assert.ThrowsAsync<ArgumentException>(async () => await (await ServerFixture.StartAsync(With(limits))).DisposeAsync());

        Assert.Contains(key + ":", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Watch_PastPerTokenCap_Refused429AndFreedOnClose()
    {
        await using var server = await ServerFixture.StartAsync(With(new() { MaxStreamsPerToken = 2, MaxStreams = 3 }));
        var reader = await server.CreateTokenAsync("reader", "read");
        using var http = server.Client(reader);
        var first = await OpenAsync(http, "/v1/watch");
        using var second = await OpenAsync(http, "/v1/events/stream");

        using var third = await OpenAsync(http, "/v1/watch?service=web");

        await AssertRefusedAsync(third, "limits.maxStreamsPerToken");
        // Another token still has room until the server-wide cap.
        using var admin = await OpenAsync(server.Http, "/v1/watch");
        Assert.Equal(HttpStatusCode.OK, admin.StatusCode);
        using var overall = await OpenAsync(server.Client(await server.CreateTokenAsync("other", "read")), "/v1/watch");
        await AssertRefusedAsync(overall, "limits.maxStreams");

        first.Dispose();
        var slots = server.App.Services.GetRequiredService<StreamSlots>();
        await Eventually(() => slots.Open == 2);
        using var again = await OpenAsync(http, "/v1/watch");
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
    }

    [Fact]
    public async Task BlockingQuery_CountsOnlyWithIndex()
    {
        await using var server = await ServerFixture.StartAsync(With(new() { MaxStreamsPerToken = 1 }));
        Assert.True((await server.RegisterAsync("web", "a")).IsSuccessStatusCode);
        using var held = await OpenAsync(server.Http, "/v1/watch");

        using var plain = await server.Http.GetAsync("/v1/services/web/instances");
        using var blocking = await server.Http.GetAsync("/v1/services/web/instances?index=999&wait=1s");
        using var group = await server.Http.GetAsync("/v1/groups/g1?index=5");

        Assert.Equal(HttpStatusCode.OK, plain.StatusCode);
        await AssertRefusedAsync(blocking, "limits.maxStreamsPerToken");
        await AssertRefusedAsync(group, "limits.maxStreamsPerToken");
    }

    [Fact]
    public async Task Requests_PastPerTokenRate_Refused429OtherTokenUnaffected()
    {
        await using var server = await ServerFixture.StartAsync(With(new() { RequestsPerSecondPerToken = 5 }));
        var busy = server.Client(await server.CreateTokenAsync("busy", "read"));
        var calm = server.Client(await server.CreateTokenAsync("calm", "read"));

        var answers = new List<HttpResponseMessage>();
        for (var i = 0; i < 40; i++)
        {
            answers.Add(await busy.GetAsync("/v1/services"));
        }

        var refused = answers.FirstOrDefault(r => r.StatusCode == HttpStatusCode.TooManyRequests);
        Assert.NotNull(refused);
        Assert.True(refused.Headers.RetryAfter is not null, "Retry-After missing");
        await AssertRefusedAsync(refused, "limits.requestsPerSecondPerToken");
        Assert.Equal(HttpStatusCode.OK, (await calm.GetAsync("/v1/services")).StatusCode);
        Assert.InRange(answers.Count(r => r.StatusCode == HttpStatusCode.OK), 5, 39);
        answers.ForEach(r => r.Dispose());
    }

    [Fact]
    public async Task Requests_PastPerSourceRate_Refused429EvenWithoutToken()
    {
        await using var server = await ServerFixture.StartAsync(With(new() { RequestsPerSecondPerSource = 5 }));
        using var anonymous = server.Client(null);

        HttpResponseMessage? refused = null;
        for (var i = 0; i < 40 && refused is null; i++)
        {
            var response = await anonymous.GetAsync("/healthz");
            refused = response.StatusCode == HttpStatusCode.TooManyRequests ? response : null;
        }

        Assert.NotNull(refused);
        await AssertRefusedAsync(refused, "limits.requestsPerSecondPerSource");
    }

    [Fact]
    public async Task Request_TooManyHeaders_Refused431()
    {
        await using var server = await ServerFixture.StartAsync(With(new() { MaxRequestHeaderCount = 16 }));
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/services");
        for (var i = 0; i < 20; i++)
        {
            request.Headers.TryAddWithoutValidation($"X-Filler-{i}", "x");
        }

        using var response = await server.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, response.StatusCode);
    }

    private static async Task<HttpResponseMessage> OpenAsync(HttpClient http, string path) =>
        await http.SendAsync(new HttpRequestMessage(HttpMethod.Get, path), HttpCompletionOption.ResponseHeadersRead);

    internal static async Task AssertRefusedAsync(HttpResponseMessage response, string key)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.TooManyRequests, $"{(int)response.StatusCode} {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.True(JsonDocument.Parse(body).RootElement.GetProperty("errors").TryGetProperty(key, out _), body);
    }

    private static async Task Eventually(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!condition())
        {
            await Task.Delay(TimeSpan.FromMilliseconds(20), TimeProvider.System, timeout.Token);
        }
    }
}
