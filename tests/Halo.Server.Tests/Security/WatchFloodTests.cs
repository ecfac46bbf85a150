using System.Diagnostics;
using System.Net;
using Halo.Core.Configuration;
using Halo.Server.Security;
using Microsoft.Extensions.DependencyInjection;

namespace Halo.Server.Tests.Security;

/// <summary>One token tries to open 10,000 watches at once against a real server with the default limits.</summary>
public sealed class WatchFloodTests(ITestOutputHelper output)
{
    private const int Attempts = 10_000;

    [Fact]
    public async Task Watch_TenThousandFromOneToken_Refused429PastCapServerStaysResponsive()
    {
        await using var server = await ServerFixture.StartAsync();
        var cap = new LimitOptions().MaxStreamsPerToken;
        var token = await server.CreateTokenAsync("flood", "read");
        // 2,000 connections, not 10,000: client and server share this process's descriptors (20,000 here). The 1,000 held
        // streams pin 1,000 of them; the other 9,000 attempts are all in flight at once and cycle through the rest.
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 2_000, UseProxy = false };
        using var flood = new HttpClient(handler) { BaseAddress = server.Http.BaseAddress, Timeout = TimeSpan.FromSeconds(120) };
        flood.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        using var stop = new CancellationTokenSource();

        var clock = Stopwatch.StartNew();
        var attempts = Enumerable.Range(0, Attempts).Select(_ => Task.Run(async () =>
        {
            var response = await flood.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/v1/watch"), HttpCompletionOption.ResponseHeadersRead, stop.Token);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                await response.Content.ReadAsStringAsync(stop.Token);
            }

            return response;
        })).ToList();
        var answers = await Task.WhenAll(attempts).WaitAsync(TimeSpan.FromSeconds(120));
        var floodTime = clock.Elapsed;

        var open = answers.Count(r => r.StatusCode == HttpStatusCode.OK);
        var refused = answers.Where(r => r.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        output.WriteLine($"{Attempts} attempts in {floodTime.TotalSeconds:F1} s: {open} open, {refused.Count} refused 429, cap {cap}");
        Assert.Equal(cap, open);
        Assert.Equal(Attempts - cap, refused.Count);
        await LimitTests.AssertRefusedAsync(refused[0], "limits.maxStreamsPerToken");

        // Responsive while the cap is held: health, a list, and a registration on fresh connections, each within 2 s.
        using var other = server.Client(server.AdminToken);
        foreach (var call in new Func<Task<HttpResponseMessage>>[]
        {
            () => other.GetAsync("/healthz"),
            () => other.GetAsync("/v1/services"),
            () => server.RegisterAsync("web", "during-flood"),
        })
        {
            clock.Restart();
            using var response = await call().WaitAsync(TimeSpan.FromSeconds(10));
            output.WriteLine($"{response.RequestMessage!.Method} {response.RequestMessage.RequestUri!.AbsolutePath}: {(int)response.StatusCode} in {clock.ElapsedMilliseconds} ms");
            Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}");
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"took {clock.Elapsed}");
        }

        // Closing the streams frees every slot; the token can watch again.
        foreach (var answer in answers)
        {
            answer.Dispose();
        }

        var slots = server.App.Services.GetRequiredService<StreamSlots>();
        using (var wait = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            while (slots.Open > 0)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(50), TimeProvider.System, wait.Token);
            }
        }

        using var again = await flood.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/v1/watch"), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
    }
}
