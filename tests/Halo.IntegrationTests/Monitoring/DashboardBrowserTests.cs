using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Halo.IntegrationTests.Monitoring;

/// <summary>The built-in dashboard in a real headless Chromium against a real `halo up`: live updates without a reload.</summary>
public sealed partial class DashboardBrowserTests(ITestOutputHelper output)
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Dashboard_SampleKilled_TurnsCriticalWithoutReload()
    {
        if (!HeadlessChromium.IsInstalled)
        {
            Assert.Skip("chromium is not installed (apt-get install chromium)");
        }

        var data = HaloProcess.TempDirectory("dashboard");
        var port = HaloProcess.FreePort();
        var url = $"http://127.0.0.1:{port}/";
        var model = Path.Combine(RepoPaths.Root, "examples", "models", "web-shop.yaml");
        await using var up = HaloProcess.Start("up", "--listen", $"127.0.0.1:{port}", "--gateway-listen", "127.0.0.1:0", "--no-redis", "--data", data, "--model", model);
        var samplePids = new Dictionary<string, int>();
        try
        {
            await up.WaitForLineAsync("Ctrl+C stops everything", StartTimeout);
            foreach (var line in up.Output)
            {
                if (SampleLine().Match(line) is { Success: true } m)
                {
                    samplePids[m.Groups["id"].Value] = int.Parse(m.Groups["pid"].Value);
                }
            }

            Assert.Equal(["web-1", "web-2", "web-3"], samplePids.Keys.Order());

            await using var browser = await HeadlessChromium.StartAsync(1440, 900, TimeSpan.FromSeconds(60));
            // Auth is on: the link `halo up` prints signs the browser in (a read token in the fragment).
            var link = up.Output.Select(l => l.Trim()).First(l => l.StartsWith("dashboard", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
            Assert.StartsWith(url + "#token=halo_", link, StringComparison.Ordinal);
            await browser.NavigateAsync(link);
            await browser.WaitForAsync(
                "document.querySelectorAll('#service-list tr[data-instance][data-health=\"passing\"]').length === 3",
                TimeSpan.FromSeconds(60), "three passing sample instances listed");
            await browser.WaitForAsync("document.getElementById('connection').dataset.state === 'live'", TimeSpan.FromSeconds(30), "event stream connected");
            Assert.Equal("web", (string?)await browser.EvaluateAsync("document.querySelector('#service-list article').dataset.service"));

            // Keyboard: the first Tab lands on the skip link, Enter moves focus to the services section;
            // every form control has an accessible name.
            await browser.PressAsync("Tab", 9);
            Assert.Equal("Skip to services", (string?)await browser.EvaluateAsync("document.activeElement.textContent"));
            await browser.PressAsync("Enter", 13);
            await browser.WaitForAsync("document.activeElement.id === 'services'", TimeSpan.FromSeconds(5), "focus on the services section");
            Assert.Equal(0, (int?)await browser.EvaluateAsync(
                "[...document.querySelectorAll('select, input, button')].filter(e => !(e.labels?.length || e.textContent.trim() || e.getAttribute('aria-label'))).length"));

            // A marker in the page's memory: if anything reloaded the page, it would be gone.
            await browser.EvaluateAsync("window.haloTestMarker = 'no-reload'");
            var clock = Stopwatch.StartNew();
            Process.GetProcessById(samplePids["web-2"]).Kill(); // SIGKILL: no chance to deregister
            await browser.WaitForAsync(
                "document.querySelector('tr[data-instance=\"web-2\"]')?.dataset.health === 'critical'",
                TimeSpan.FromSeconds(60), "web-2 shown critical");
            output.WriteLine($"kill -9 web-2 -> critical on the page in {clock.Elapsed.TotalSeconds:0.0} s");

            Assert.Equal("no-reload", (string?)await browser.EvaluateAsync("window.haloTestMarker"));
            await browser.WaitForAsync(
                "[...document.querySelectorAll('#event-list li[data-type=\"health\"]')].some(li => li.textContent.includes('web/web-2') && li.textContent.includes('critical'))",
                TimeSpan.FromSeconds(10), "the transition listed in the live events");
            Assert.Equal(3, (int?)await browser.EvaluateAsync("document.querySelectorAll('#event-list li[data-type=\"registered\"]').length"));
            // The header totals agree with the table (on a loaded machine another sample may be suspect for a moment).
            await browser.WaitForAsync(
                "Number(document.getElementById('total-critical').textContent) === document.querySelectorAll('#service-list tr[data-health=\"critical\"]').length",
                TimeSpan.FromSeconds(10), "header totals match the table");
            Assert.Contains("✕ critical", (string?)await browser.EvaluateAsync("document.querySelector('tr[data-instance=\"web-2\"] .badge').textContent"), StringComparison.Ordinal);

            // Let the availability table catch up (it refreshes at most every 5 s), then keep the evidence.
            await browser.WaitForAsync("document.querySelector('#availability-rows tr[data-service=\"web\"]') !== null", TimeSpan.FromSeconds(15), "availability row");
            // The model's prediction for the block named "web" sits beside the measured figures.
            Assert.EndsWith("%", (string?)await browser.EvaluateAsync("document.querySelector('#availability-rows tr[data-service=\"web\"] td:last-child').textContent"), StringComparison.Ordinal);
            var png = await browser.ScreenshotAsync();
            var file = Path.Combine(RepoPaths.Artifacts, "dashboard-instance-critical.png");
            await File.WriteAllBytesAsync(file, png);
            output.WriteLine($"screenshot: {file} ({png.Length} bytes)");
            Assert.True(png.Length > 10_000, "the screenshot should not be blank");
        }
        finally
        {
            // Ctrl+C lets halo up stop what it started (samples, gateway); samples are then stopped by pid if still there.
            using (var interrupt = Process.Start("kill", ["-INT", up.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await interrupt.WaitForExitAsync();
            }

            var stopping = Stopwatch.StartNew();
            while (!up.HasExited && stopping.Elapsed < TimeSpan.FromSeconds(20))
            {
                await Task.Delay(100);
            }

            foreach (var pid in samplePids.Values)
            {
                try
                {
                    using var p = Process.GetProcessById(pid);
                    p.Kill();
                }
                catch (ArgumentException)
                {
                }
            }
        }

        try
        {
            Directory.Delete(data, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [GeneratedRegex(@"sample web/(?<id>web-\d+) listening on .* \(pid (?<pid>\d+)\)")]
    private static partial Regex SampleLine();
}
