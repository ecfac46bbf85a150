using Halo.Server.Alerts;
using Halo.Store;

namespace Halo.Server.Tests.Monitoring;

public sealed class AlertOptionsTests
{
    [Fact]
    public void Validate_Defaults_Valid() => Assert.Empty(new AlertOptions().Validate());

    [Theory]
    [InlineData("not a url")]
    [InlineData("ftp://example.com/hook")]
    [InlineData("http://user:secret@example.com/hook")]
    [InlineData("/relative/hook")]
    public void Validate_BadWebhook_NamesIndexedField(string url)
    {
        var errors = new AlertOptions { Webhooks = ["http://ok.example/hook", url] }.Validate();

        Assert.Equal("alerts.webhooks[1]", Assert.Single(errors).Field);
    }

    [Fact]
    public void Validate_OutOfRangeValues_NamesEachField()
    {
        var errors = new AlertOptions
        {
            MaxAttempts = 0, InitialBackoff = TimeSpan.Zero, MaxBackoff = TimeSpan.FromHours(1),
            Timeout = TimeSpan.FromMinutes(5), DedupWindow = TimeSpan.FromSeconds(-1), Receiver = "",
        }.Validate();

        Assert.Equal(
            ["alerts.dedupWindow", "alerts.initialBackoff", "alerts.maxAttempts", "alerts.maxBackoff", "alerts.receiver", "alerts.timeout"],
            errors.Select(e => e.Field).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void BackoffBefore_Retries_DoublesUpToCap()
    {
        var options = new AlertOptions { InitialBackoff = TimeSpan.FromSeconds(1), MaxBackoff = TimeSpan.FromSeconds(5) };

        Assert.Equal([1, 2, 4, 5, 5], Enumerable.Range(1, 5).Select(r => options.BackoffBefore(r).TotalSeconds));
    }

    [Fact]
    public async Task BuildAsync_InvalidAlertOptions_FailsAtBootNamingField()
    {
        var directory = Path.Combine(Path.GetTempPath(), "halo-alert-options-" + Guid.NewGuid().ToString("N"));
        await using (var store = await EmbeddedStore.OpenAsync(directory, new EmbeddedStoreOptions(), TimeProvider.System))
        {
            var options = new ServerOptions { Listen = "http://127.0.0.1:0", Alerts = new AlertOptions { Webhooks = ["nope"] } };

            var error = await Assert.ThrowsAsync<ArgumentException>(() => HaloServerHost.BuildAsync(options, store));

            Assert.Contains("alerts.webhooks[0]", error.Message, StringComparison.Ordinal);
        }

        Directory.Delete(directory, recursive: true);
    }
}
