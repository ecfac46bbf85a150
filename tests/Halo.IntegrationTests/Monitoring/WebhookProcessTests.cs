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
            var status = Interlocked.Exchange(ref failNext, 0) == 1 ? 503 : 200;
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
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            await WaitForPassingAsync(http, 2);
            var clock = Stopwatch.StartNew();
            samples[1].KillHard();

            // 503 first, then the retry after the 1 s back-off is accepted.
            try
            {
                await WaitAsync(() => received.Any(r => r.Status == 200), TimeSpan.FromSeconds(60), "a successful delivery");
            }
            catch (TimeoutException)
            {
                var lines = server.Output.ToList();
                var relevant = lines.Select((l, i) => (l, i)).Where(x => x.l.Contains("Alert", StringComparison.Ordinal) || x.l.Contains("Health ", StringComparison.Ordinal) || x.l.Contains("halo-alerts", StringComparison.Ordinal));
                output.WriteLine(string.Join('\n', relevant.SelectMany(x => lines.Skip(x.i).Take(2))));
                using var diag = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
                output.WriteLine(await diag.GetStringAsync("/v1/services/web/instances"));
                output.WriteLine(await diag.GetStringAsync("/v1/events"));
                output.WriteLine($"samples exited: {string.Join(", ", samples.Select(s => s.HasExited))}; receiver got {received.Count}");
                throw;
            }

            output.WriteLine($"kill -9 -> webhook delivered in {clock.Elapsed.TotalSeconds:0.0} s after {received.Count} attempt(s)");

            // Quiet period: the instance stays critical, nothing else may arrive.
            await Task.Delay(TimeSpan.FromSeconds(3));
            var all = received.ToList();
            Assert.Equal([503, 200], all.Select(r => r.Status));
            var alert = all[1].Body.GetProperty("alerts")[0];
            Assert.Equal("firing", alert.GetProperty("status").GetString());
            Assert.Equal("HaloInstanceDown", alert.GetProperty("labels").GetProperty("alertname").GetString());
            Assert.Equal("web-2", alert.GetProperty("labels").GetProperty("instance").GetString());
            Assert.Equal(all[0].Body.ToString(), all[1].Body.ToString());

            var events = JsonDocument.Parse(await http.GetStringAsync("/v1/events?type=alert")).RootElement.GetProperty("events");
            var record = Assert.Single(events.EnumerateArray().ToList());
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

    private static async Task WaitAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"{what}: not within {timeout}");
            }

            await Task.Delay(100);
        }
    }
}
