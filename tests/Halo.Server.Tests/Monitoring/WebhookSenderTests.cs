using Halo.Server.Alerts;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Halo.Server.Tests.Monitoring;

/// <summary>The sender's retry schedule on a fake clock, against a port nobody listens on.</summary>
public sealed class WebhookSenderTests
{
    [Fact]
    public async Task SendAsync_ReceiverUnreachable_RetriesWithDoublingBackoffThenGivesUp()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var options = new AlertOptions { MaxAttempts = 3, InitialBackoff = TimeSpan.FromSeconds(1), Timeout = TimeSpan.FromMinutes(1) };
        await using var services = new ServiceCollection().AddHttpClient().BuildServiceProvider();
        var sender = new WebhookSender(services.GetRequiredService<IHttpClientFactory>(), options, time);
        var alert = AlertRules.From(new Core.Registry.RegistryEvent
        {
            Type = "health", Time = time.GetUtcNow(), Service = "web", Instance = "web-1", From = "suspect", To = "critical",
        }, "http://127.0.0.1:7400/")!;
        var start = time.GetUtcNow();

        // Port 9 (discard) on loopback: connection refused at once, so only the back-off waits take (fake) time.
        var sending = sender.SendAsync("http://127.0.0.1:9/hook", AlertPayload.For(alert, "halo", "http://127.0.0.1:7400/"), CancellationToken.None);
        // 200 steps (50 s of fake time, under the 1 min request timeout) spread over 10 s of real time: 20 ms apart (4 s) was
        // enough only while each refused connect came back quickly, which a loaded machine does not promise.
        for (var i = 0; i < 200 && !sending.IsCompleted; i++)
        {
            await Task.Delay(50);
            time.Advance(TimeSpan.FromMilliseconds(250));
        }

        var result = await sending.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(result.Delivered);
        Assert.Equal(3, result.Attempts);
        Assert.NotNull(result.LastError);
        // Waits of 1 s then 2 s: at least 3 s of fake time passed, in steps of 250 ms.
        Assert.True(time.GetUtcNow() - start >= TimeSpan.FromSeconds(3), $"{time.GetUtcNow() - start}");
    }
}
