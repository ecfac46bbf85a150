using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Halo.IntegrationTests.Monitoring;

/// <summary>A real Prometheus 2.42 scrapes a real `halo server`; the test kills a sample and asks Prometheus for the effect.</summary>
public sealed class PrometheusScrapeTests(ITestOutputHelper output)
{
    private const string PrometheusBinary = "/usr/bin/prometheus";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Prometheus_SampleKilled_CriticalCountRises()
    {
        if (!File.Exists(PrometheusBinary))
        {
            Assert.Skip("prometheus is not installed (apt-get install prometheus)");
        }

        var data = HaloProcess.TempDirectory("prom-halo");
        var haloPort = HaloProcess.FreePort();
        var halo = $"http://127.0.0.1:{haloPort}";
        await using var server = HaloProcess.Start("server", "--listen", $"127.0.0.1:{haloPort}", "--data", data);
        await server.WaitForLineAsync("listening on", StartTimeout);
        var samples = new List<HaloProcess>();
        Process? gateway = null;
        Process? prometheus = null;
        try
        {
            for (var i = 1; i <= 2; i++)
            {
                samples.Add(HaloProcess.Start("sample", "--service", "web", "--id", $"web-{i}", "--ttl", "1s", "--server", halo));
            }

            foreach (var s in samples)
            {
                await s.WaitForLineAsync("listening on", StartTimeout);
            }

            // The gateway joins the scrape: `halo gateway` when the CLI has it, else the gateway's own runner
            // (tests/Halo.GatewayRunner, the same GatewayHost) when it has been built, as the solution build does.
            int? gatewayPort = null;
            if (await GatewayCommandAsync() is { } gatewayCommand)
            {
                gatewayPort = HaloProcess.FreePort();
                gateway = await StartGatewayAsync(gatewayCommand, gatewayPort.Value, halo);
            }
            else
            {
                output.WriteLine("no gateway in this build: scraping the server only");
            }

            // Prometheus scrapes with a read token of its own from a file, as deploy/prometheus/prometheus.yml shows.
            var scrapeToken = Path.Combine(data, "prometheus.token");
            var (created, createOutput) = await HaloProcess.RunAsync(StartTimeout, "token", "create", "prometheus", "--role", "read", "--out", scrapeToken, "--server", halo);
            Assert.True(created == 0, createOutput);
            var promPort = HaloProcess.FreePort();
            prometheus = StartPrometheus(data, haloPort, gatewayPort, promPort, scrapeToken);
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{promPort}"), Timeout = TimeSpan.FromSeconds(10) };
            await Eventually.UntilAsync(async () => (await TryGetAsync(http, "/-/ready")) is not null, TimeSpan.FromSeconds(60), "prometheus ready");

            const string critical = "sum(halo_registry_instances{job=\"halo-server\",service=\"web\",health=\"critical\"})";
            const string passing = "sum(halo_registry_instances{job=\"halo-server\",service=\"web\",health=\"passing\"})";
            await Eventually.UntilAsync(async () => await QueryAsync(http, passing) == 2, TimeSpan.FromSeconds(60), "two passing instances scraped");
            Assert.Equal(0, await QueryAsync(http, critical));
            Assert.Equal(1, await QueryAsync(http, "up{job=\"halo-server\"}"));

            const string tableRevision = "max(halo_gateway_routing_table_revision{job=\"halo-gateway\"})";
            double? revisionBefore = null;
            if (gatewayPort is not null)
            {
                await Eventually.UntilAsync(async () => await QueryAsync(http, "up{job=\"halo-gateway\"}") == 1, TimeSpan.FromSeconds(30), "gateway scraped");
                await Eventually.UntilAsync(async () => await QueryAsync(http, tableRevision) > 0, TimeSpan.FromSeconds(30), "gateway routing table scraped");
                revisionBefore = await QueryAsync(http, tableRevision);

                // Traffic the test sends through the gateway shows up in Prometheus as the gateway's request counter.
                using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{gatewayPort}"), Timeout = TimeSpan.FromSeconds(10) };
                for (var i = 0; i < 5; i++)
                {
                    using var response = await client.GetAsync("/");
                    Assert.True(response.IsSuccessStatusCode, $"through the gateway: {(int)response.StatusCode}");
                }

                await Eventually.UntilAsync(async () => await QueryAsync(http, "sum(halo_gateway_requests_total{job=\"halo-gateway\",cluster=\"web\",status_class=\"2xx\"})") >= 5,
                    TimeSpan.FromSeconds(30), "gateway request counter scraped");
            }

            var clock = Stopwatch.StartNew();
            samples[1].KillHard();
            await Eventually.UntilAsync(async () => await QueryAsync(http, critical) == 1, TimeSpan.FromSeconds(60), "critical count 1 in Prometheus");
            output.WriteLine($"kill -9 -> halo_registry_instances{{health=\"critical\"}} = 1 in Prometheus after {clock.Elapsed.TotalSeconds:0.0} s");

            // The transition counter the detector published is there too, labelled with the change.
            await Eventually.UntilAsync(async () => await QueryAsync(http, "sum(halo_detector_transitions_total{service=\"web\",to=\"critical\"})") >= 1,
                TimeSpan.FromSeconds(15), "transition counter scraped");

            if (revisionBefore is { } before)
            {
                // The gateway followed the health change on its feed: its routing table moved past the revision it had.
                await Eventually.UntilAsync(async () => await QueryAsync(http, tableRevision) > before, TimeSpan.FromSeconds(30), "gateway routing table revision rises");
                output.WriteLine($"gateway routing table revision {before} -> {await QueryAsync(http, tableRevision)}");
            }

            // Every query of the Grafana dashboard is valid PromQL to this real Prometheus, and the registry panels have data.
            foreach (var (title, expr) in GrafanaQueries())
            {
                using var response = await http.GetAsync("/api/v1/query?query=" + Uri.EscapeDataString(expr));
                var body = await response.Content.ReadAsStringAsync();
                Assert.True(response.IsSuccessStatusCode, $"Grafana panel '{title}': {expr}\n{body}");
            }

            Assert.NotNull(await QueryAsync(http, GrafanaQueries().First(q => q.Title == "Instances by health").Expr));
        }
        finally
        {
            if (prometheus is not null)
            {
                if (!prometheus.HasExited)
                {
                    prometheus.Kill();
                    prometheus.WaitForExit(10_000);
                }

                prometheus.Dispose();
            }

            foreach (var s in samples)
            {
                await s.DisposeAsync();
            }

            if (gateway is not null)
            {
                if (!gateway.HasExited)
                {
                    gateway.Kill();
                    gateway.WaitForExit(10_000);
                }

                gateway.Dispose();
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

    /// <summary>The arguments that start a gateway (after "dotnet"), or null when this build has none.</summary>
    private static async Task<string[]?> GatewayCommandAsync()
    {
        var help = (await HaloProcess.RunAsync(TimeSpan.FromSeconds(60), "--help")).Output;
        if (help.Split('\n').Any(l => l.TrimStart().StartsWith("gateway ", StringComparison.Ordinal)))
        {
            return [HaloProcess.HaloDll, "gateway"];
        }

        var runner = new DirectoryInfo(Path.Combine(RepoPaths.Root, "tests", "Halo.GatewayRunner", "bin"));
        var newest = runner.Exists
            ? runner.EnumerateFiles("Halo.GatewayRunner.dll", SearchOption.AllDirectories).OrderByDescending(f => f.LastWriteTimeUtc).FirstOrDefault()
            : null;
        return newest is null ? null : [newest.FullName];
    }

    private static async Task<Process> StartGatewayAsync(string[] command, int port, string server)
    {
        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        info.Environment["HALO_TOKEN_FILE"] = HaloProcess.TokenFile;
        foreach (var arg in command.Concat(["--config", Path.Combine(RepoPaths.Root, "deploy", "gateway.yaml"), "--listen", $"127.0.0.1:{port}", "--server", server]))
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info)!;
        var listening = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data?.Contains("listening on", StringComparison.Ordinal) == true)
            {
                listening.TrySetResult();
            }
        };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await listening.Task.WaitAsync(StartTimeout);
        }
        catch (TimeoutException)
        {
            process.Kill();
            process.Dispose();
            throw;
        }

        return process;
    }

    /// <summary>The dashboard's PromQL with its template variables replaced the way Grafana would for this setup.</summary>
    private static IEnumerable<(string Title, string Expr)> GrafanaQueries()
    {
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepoPaths.Root, "deploy", "grafana", "halo-dashboard.json")));
        var list = new List<(string, string)>();
        foreach (var panel in json.RootElement.GetProperty("panels").EnumerateArray())
        {
            if (!panel.TryGetProperty("targets", out var targets))
            {
                continue;
            }

            foreach (var target in targets.EnumerateArray())
            {
                var expr = target.GetProperty("expr").GetString()!
                    .Replace("$gateway_job", "halo-gateway", StringComparison.Ordinal).Replace("$job", "halo-server", StringComparison.Ordinal)
                    .Replace("$service", ".*", StringComparison.Ordinal).Replace("$__rate_interval", "1m", StringComparison.Ordinal);
                list.Add((panel.GetProperty("title").GetString()!, expr));
            }
        }

        return list;
    }

    private static Process StartPrometheus(string directory, int haloPort, int? gatewayPort, int promPort, string tokenFile)
    {
        var config = Path.Combine(directory, "prometheus.yml");
        var gatewayJob = gatewayPort is { } gp ? $"""

              - job_name: halo-gateway
                scrape_interval: 1s
                scrape_timeout: 900ms
                static_configs:
                  - targets: ["127.0.0.1:{gp}"]
            """ : "";
        File.WriteAllText(config, $"""
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: halo-server
                scrape_interval: 1s
                scrape_timeout: 900ms
                authorization:
                  type: Bearer
                  credentials_file: {tokenFile}
                static_configs:
                  - targets: ["127.0.0.1:{haloPort}"]
            """ + gatewayJob);
        var info = new ProcessStartInfo(PrometheusBinary) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[]
        {
            $"--config.file={config}", $"--storage.tsdb.path={Path.Combine(directory, "tsdb")}",
            $"--web.listen-address=127.0.0.1:{promPort}", "--log.level=warn",
        })
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>The instant value of a PromQL expression, or null when it has no result yet.</summary>
    private static async Task<double?> QueryAsync(HttpClient http, string promql)
    {
        var body = await TryGetAsync(http, "/api/v1/query?query=" + Uri.EscapeDataString(promql));
        if (body is null)
        {
            return null;
        }

        var result = JsonDocument.Parse(body).RootElement.GetProperty("data").GetProperty("result");
        return result.GetArrayLength() == 0 ? null : double.Parse(result[0].GetProperty("value")[1].GetString()!, CultureInfo.InvariantCulture);
    }

    private static async Task<string?> TryGetAsync(HttpClient http, string path)
    {
        try
        {
            using var response = await http.GetAsync(path);
            return response.IsSuccessStatusCode ? await response.Content.ReadAsStringAsync() : null;
        }
        catch (HttpRequestException)
        {
            return null;
        }
    }
}
