// Every wait in these tests has its own bound.
#pragma warning disable xUnit1051

using System.Net.Http.Json;

namespace Halo.IntegrationTests.Gateway;

/// <summary>
/// A real `halo server` feeding a real gateway process: registry instances become destinations,
/// draining and new instances reach the gateway through the change feed, and the gateway keeps
/// serving while the server is down, then resumes from its revision after the restart.
/// </summary>
[Collection(nameof(GatewayProcessCollection))]
public sealed class GatewayWithServerTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Feed_ServerRestart_GatewayKeepsServingAndResumes()
    {
        var port = HaloProcess.FreePort();
        var data = HaloProcess.TempDirectory("gateway-feed");
        var serverUrl = $"http://127.0.0.1:{port}";
        using var s = new GatewayScenario();
        await s.StartBackendsAsync("b1", "b2", "b3");
        using var http = HaloProcess.Http(serverUrl, TimeSpan.FromSeconds(10));
        async Task Register(string name)
        {
            var url = new Uri(s.Url(name));
            using var r = await http.PutAsJsonAsync($"/v1/services/web/instances/{name}",
                new { address = "127.0.0.1", port = url.Port, ttl = "30s" });
            Assert.True(r.IsSuccessStatusCode, $"register {name}: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}");
        }

        var server = HaloProcess.Start("server", "--listen", $"127.0.0.1:{port}", "--data", data);
        try
        {
            await server.WaitForLineAsync("listening on", Bound);
            await Register("b1");
            await Register("b2");
            await s.StartGatewayAsync(GatewayScenario.WebRoundRobin, serverUrl);
            await WaitForBackendsAsync(s, ["b1", "b2"]);

            await server.DisposeAsync();
            var whileDown = await LoadRun.RunAsync(s.GatewayUrl, 4, TimeSpan.FromSeconds(2));
            output.WriteLine($"server down: {whileDown}");
            Assert.Equal(0, whileDown.Failures);

            server = HaloProcess.Start("server", "--listen", $"127.0.0.1:{port}", "--data", data);
            await server.WaitForLineAsync("listening on", Bound);
            await Register("b3");
            using (var drain = await http.PutAsJsonAsync("/v1/services/web/instances/b1/drain", new { draining = true }))
            {
                Assert.True(drain.IsSuccessStatusCode);
            }

            await WaitForBackendsAsync(s, ["b2", "b3"]);
        }
        finally
        {
            output.WriteLine(s.Gateway?.Output ?? "");
            await server.DisposeAsync();
        }
    }

    /// <summary>Polls through the gateway until exactly <paramref name="expected"/> answer (bounded).</summary>
    private static async Task WaitForBackendsAsync(GatewayScenario s, string[] expected)
    {
        var deadline = DateTime.UtcNow + Bound;
        string seen = "";
        while (DateTime.UtcNow < deadline)
        {
            var run = await LoadRun.RunAsync(s.GatewayUrl, 2, TimeSpan.FromMilliseconds(300));
            seen = string.Join(",", run.ByBackend.Keys.Order());
            if (seen == string.Join(",", expected.Order()) && run.Failures == 0)
            {
                return;
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"gateway never routed to exactly [{string.Join(",", expected)}]; last saw [{seen}]");
    }
}
