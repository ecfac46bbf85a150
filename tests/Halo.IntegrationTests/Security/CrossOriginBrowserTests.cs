using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Halo.IntegrationTests.Monitoring;
using Halo.Server;
using Halo.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Halo.IntegrationTests.Security;

/// <summary>
/// A page in real Chromium tries every way a browser offers to pause, resume, drill or switch over a loopback server:
/// from another origin (fetch without CORS, text/plain bodies, a beacon, a form post) and by DNS rebinding. The server
/// runs anonymous on loopback, the weakest setting, so only the browser checks stand between the page and the groups.
/// </summary>
public sealed class CrossOriginBrowserTests(ITestOutputHelper output) : IAsyncLifetime
{
    private string _dir = "";
    private EmbeddedStore _store = null!;
    private WebApplication _server = null!;
    private WebApplication _attacker = null!;
    private HttpClient _http = null!;

    public async ValueTask InitializeAsync()
    {
        _dir = HaloProcess.TempDirectory("cross-origin");
        _store = await EmbeddedStore.OpenAsync(_dir, new EmbeddedStoreOptions(), TimeProvider.System);
        _server = await HaloServerHost.BuildAsync(
            new ServerOptions { Listen = "http://127.0.0.1:0", DataDirectory = _dir, Security = new() { AllowAnonymous = true } },
            _store, TimeProvider.System, l => l.ClearProviders());
        await _server.StartAsync();
        _http = new HttpClient { BaseAddress = HaloServerHost.Address(_server), Timeout = TimeSpan.FromSeconds(30) };

        // The attacker's origin: another port on the same machine, serving one page with a form that posts into an iframe.
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        _attacker = builder.Build();
        var target = HaloServerHost.Address(_server).GetLeftPart(UriPartial.Authority);
        _attacker.MapGet("/", () => Results.Content(
            $"""<!doctype html><html><body><iframe name="sink"></iframe><form id="f" method="post" enctype="text/plain" target="sink" action="{target}/v1/groups/g1/pause"><input name="x" value="y"></form></body></html>""",
            "text/html"));
        await _attacker.StartAsync();
    }

    [Fact]
    public async Task Page_OtherOriginOrRebinding_CannotPauseResumeDrillOrSwitchover()
    {
        if (!HeadlessChromium.IsInstalled)
        {
            Assert.Skip("chromium is not installed (apt-get install chromium)");
        }

        await PutGroupAsync("g1", paused: false);
        await PutGroupAsync("g2", paused: true);
        var port = HaloServerHost.Address(_server).Port;
        await using var browser = await HeadlessChromium.StartAsync(800, 600, TimeSpan.FromSeconds(60), "--host-resolver-rules=MAP rebind.test 127.0.0.1");

        // 1. From another origin. Opaque answers: the page cannot even read them; the server must refuse them all.
        await browser.NavigateAsync(HaloServerHost.Address(_attacker).ToString());
        await browser.WaitForAsync("document.getElementById('f') !== null", TimeSpan.FromSeconds(30), "attacker page loaded");
        var target = HaloServerHost.Address(_server).GetLeftPart(UriPartial.Authority);
        var attempts = await browser.EvaluateAsync($$"""
            (async () => {
              const t = '{{target}}', out = [];
              const tryIt = async (name, url, init) => {
                try { const r = await fetch(t + url, init); out.push(name + ' ' + r.type + ' ' + r.status); }
                catch (e) { out.push(name + ' failed: ' + e.message); }
              };
              await tryIt('pause no-cors empty', '/v1/groups/g1/pause', { method: 'POST', mode: 'no-cors' });
              await tryIt('pause no-cors text', '/v1/groups/g1/pause', { method: 'POST', mode: 'no-cors', body: '{}', headers: { 'Content-Type': 'text/plain' } });
              await tryIt('resume no-cors', '/v1/groups/g2/resume', { method: 'POST', mode: 'no-cors' });
              await tryIt('drill no-cors text', '/v1/groups/g1/drill', { method: 'POST', mode: 'no-cors', body: '{"mode":"kill"}', headers: { 'Content-Type': 'text/plain' } });
              await tryIt('switchover no-cors text', '/v1/groups/g1/switchover', { method: 'POST', mode: 'no-cors', body: '{}', headers: { 'Content-Type': 'text/plain' } });
              await tryIt('pause cors json', '/v1/groups/g1/pause', { method: 'POST', body: '{}', headers: { 'Content-Type': 'application/json' } });
              await tryIt('switchover cors json', '/v1/groups/g1/switchover', { method: 'POST', body: '{}', headers: { 'Content-Type': 'application/json' } });
              out.push('beacon queued ' + navigator.sendBeacon(t + '/v1/groups/g2/resume', new Blob(['{}'], { type: 'text/plain' })));
              await new Promise(done => { document.querySelector('iframe').onload = done; document.getElementById('f').submit(); });
              out.push('form posted');
              return out.join('\n');
            })()
            """);
        output.WriteLine(attempts?.ToString() ?? "(no answer)");

        // Everything that reached the server was refused (the JSON ones stop at the CORS preflight and never arrive).
        await WaitForRefusedAsync(7);
        await AssertPausedAsync("g1", false);
        await AssertPausedAsync("g2", true);

        // 2. DNS rebinding: a name the attacker controls now resolves to 127.0.0.1, so the page is same-origin with the
        // server and may send JSON; only the Host allow-list answers it.
        await browser.NavigateAsync($"http://rebind.test:{port}/healthz");
        await browser.WaitForAsync("document.readyState === 'complete' && location.hostname === 'rebind.test'", TimeSpan.FromSeconds(30), "rebound page loaded");
        var rebound = await browser.EvaluateAsync(Pause);
        output.WriteLine($"rebound pause: {rebound}");
        Assert.Equal(421, (int?)rebound);
        await AssertPausedAsync("g1", false);

        // Control: the same request from the server's own origin does pause, so the checks above could have failed.
        await browser.NavigateAsync($"http://127.0.0.1:{port}/healthz");
        await browser.WaitForAsync("document.readyState === 'complete' && location.hostname === '127.0.0.1'", TimeSpan.FromSeconds(30), "own page loaded");
        Assert.Equal(200, (int?)await browser.EvaluateAsync(Pause));
        await AssertPausedAsync("g1", true);
    }

    private const string Pause = "fetch('/v1/groups/g1/pause', { method: 'POST', body: '{}', headers: { 'Content-Type': 'application/json' } }).then(r => r.status)";

    private async Task PutGroupAsync(string name, bool paused)
    {
        using var put = await _http.PutAsJsonAsync($"/v1/groups/{name}", new { });
        Assert.True(put.IsSuccessStatusCode, $"PUT {name}: {(int)put.StatusCode}");
        if (paused)
        {
            using var pause = await _http.PostAsJsonAsync($"/v1/groups/{name}/pause", new { });
            Assert.True(pause.IsSuccessStatusCode, $"pause {name}: {(int)pause.StatusCode}");
        }
    }

    private async Task AssertPausedAsync(string name, bool paused)
    {
        using var doc = JsonDocument.Parse(await _http.GetStringAsync($"/v1/groups/{name}"));
        Assert.Equal(paused, doc.RootElement.GetProperty("paused").GetBoolean());
    }

    /// <summary>Waits (bounded) until the server has counted <paramref name="count"/> cross-origin or media-type refusals.</summary>
    private async Task WaitForRefusedAsync(int count)
    {
        var deadline = TimeProvider.System.GetTimestamp();
        var seen = 0.0;
        while (TimeProvider.System.GetElapsedTime(deadline) < TimeSpan.FromSeconds(20))
        {
            var metrics = await _http.GetStringAsync("/metrics");
            seen = metrics.Split('\n')
                .Where(l => l.StartsWith("halo_security_refused_total{", StringComparison.Ordinal)
                    && (l.Contains("reason=\"cross_origin\"", StringComparison.Ordinal) || l.Contains("reason=\"media_type\"", StringComparison.Ordinal)))
                .Sum(l => double.Parse(l[(l.IndexOf('}', StringComparison.Ordinal) + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture));
            if (seen >= count)
            {
                output.WriteLine($"refused by the server: {seen}");
                return;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200), TimeProvider.System);
        }

        Assert.Fail($"the server counted {seen} refusals, expected {count}");
    }

    public async ValueTask DisposeAsync()
    {
        _http?.Dispose();
        if (_attacker is not null)
        {
            await _attacker.StopAsync();
            await _attacker.DisposeAsync();
        }

        if (_server is not null)
        {
            await _server.StopAsync();
            await _server.DisposeAsync();
        }

        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
