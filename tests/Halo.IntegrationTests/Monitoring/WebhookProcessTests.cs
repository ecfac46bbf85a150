using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Halo.IntegrationTests.Monitoring;

/// <summary>`halo server --alert-webhook` as a real process: a sample killed with -9 pages a real receiver once, after a retry.</summary>
public sealed class WebhookProcessTests(ITestOutputHelper output)
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task SampleKilled_ReceiverFailsFirst_ExactlyOneDeliveryAfterRetry()
    {
        var received = new ConcurrentQueue<(int Status, JsonElement Body)>();
        var failNext = 1;
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        await using var receiver = builder.Build();
        receiver.MapPost("/hook", async (HttpContext context) =>
        {
            var body = (await JsonDocument.ParseAsync(context.Request.Body)).RootElement.Clone();
            // The first notification about the killed instance is refused; anything else is accepted.
            var status = ForWeb2(body) && Interlocked.Exchange(ref failNext, 0) == 1 ? 503 : 200;
            received.Enqueue((status, body));
            return Results.StatusCode(status);
        });
        await receiver.StartAsync();
        var hook = receiver.Urls.First() + "/hook";

        var data = HaloProcess.TempDirectory("webhook");
        var port = HaloProcess.FreePort();
        await using var server = HaloProcess.Start("server", "--listen", $"127.0.0.1:{port}", "--data", data, "--alert-webhook", hook);
        await server.WaitForLineAsync("listening on", StartTimeout);
        var samples = new List<HaloProcess>();
        try
        {
            for (var i = 1; i <= 2; i++)
            {
                samples.Add(HaloProcess.Start("sample", "--service", "web", "--id", $"web-{i}", "--ttl", "1s", "--server", $"http://127.0.0.1:{port}"));
            }

            foreach (var s in samples)
            {
                await s.WaitForLineAsync("listening on", StartTimeout);
            }

            // "listening on" comes before the sample's registration lands: wait for both to be registered and passing.
            using var http = HaloProcess.Http($"http://127.0.0.1:{port}");
            await WaitForPassingAsync(http, 2);
            var clock = Stopwatch.StartNew();
            samples[1].KillHard();

            // 503 first, then the retry after the 1 s back-off is accepted.
            try
            {
                await Eventually.UntilAsync(() => received.Any(r => r.Status == 200 && ForWeb2(r.Body)), TimeSpan.FromSeconds(60), "a successful delivery");
            }
            catch (TimeoutException)
            {
                var lines = server.Output.ToList();
                output.WriteLine(string.Join('\n', lines.Where(l => l.Contains("Alert", StringComparison.Ordinal) || l.Contains("Health ", StringComparison.Ordinal))));
                output.WriteLine($"samples exited: {string.Join(", ", samples.Select(s => s.HasExited))}; receiver got {received.Count}");
                throw;
            }

            output.WriteLine($"kill -9 -> webhook delivered in {clock.Elapsed.TotalSeconds:0.0} s after {received.Count} attempt(s)");

            // Quiet period: web-2 stays critical, nothing more may arrive about it. (On a loaded machine the surviving
            // sample may flap on its own; those alerts are its own and are not counted here.)
            await Task.Delay(TimeSpan.FromSeconds(3));
            var all = received.Where(r => ForWeb2(r.Body)).ToList();
            Assert.Equal([503, 200], all.Select(r => r.Status));
            var alert = all[1].Body.GetProperty("alerts")[0];
            Assert.Equal("firing", alert.GetProperty("status").GetString());
            Assert.Equal("HaloInstanceDown", alert.GetProperty("labels").GetProperty("alertname").GetString());
            Assert.Equal(all[0].Body.ToString(), all[1].Body.ToString());

            var events = JsonDocument.Parse(await http.GetStringAsync("/v1/events?type=alert")).RootElement.GetProperty("events");
            var record = Assert.Single(events.EnumerateArray().Where(e => e.GetProperty("instance").GetString() == "web-2").ToList());
            Assert.Equal("delivered", record.GetProperty("to").GetString());
            Assert.Equal(2, record.GetProperty("evidence").GetProperty("attempts").GetInt32());
        }
        finally
        {
            foreach (var s in samples)
            {
                await s.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Server_BadWebhookUrl_ExitsNamingTheOption()
    {
        var data = HaloProcess.TempDirectory("webhook-bad");

        var (code, text) = await HaloProcess.RunAsync(StartTimeout, "server", "--listen", "127.0.0.1:0", "--data", data, "--alert-webhook", "ftp://nope");

        Assert.NotEqual(0, code);
        Assert.Contains("--alert-webhook", text, StringComparison.Ordinal);
        Assert.Contains("alerts.webhooks[0]", text, StringComparison.Ordinal);
    }

    private static bool ForWeb2(JsonElement body) =>
        body.GetProperty("alerts")[0].GetProperty("labels").TryGetProperty("instance", out var i) && i.GetString() == "web-2";

    private static async Task WaitForPassingAsync(HttpClient http, int count)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            using var response = await http.GetAsync("/v1/services/web/instances?health=passing");
            if (response.IsSuccessStatusCode &&
                JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("instances").GetArrayLength() == count)
            {
                return;
            }

            if (clock.Elapsed > TimeSpan.FromSeconds(30))
            {
                throw new TimeoutException($"{count} passing instances: not within 30 s");
            }

            await Task.Delay(100);
        }
    }
}
