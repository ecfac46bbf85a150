namespace Halo.IntegrationTests.Gateway;

/// <summary>Three (or more) TestBackend processes behind one real `halo gateway` process, all on 127.0.0.1 with free ports.</summary>
internal sealed class GatewayScenario : IDisposable
{
    // Start-up is bounded by the child's own CPU (20 times what a start takes), so a starved machine waits and a looping
    // child fails; the wall bound catches a child that hangs without using CPU (see ChildProcess.WaitListeningAsync).
    private static readonly TimeSpan StartCpu = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan StartBound = TimeSpan.FromSeconds(120);
    private static readonly TimeSpan WarmUpBound = TimeSpan.FromSeconds(30);
    private readonly List<ChildProcess> _processes = [];
    private readonly string _configPath = Path.Combine(Path.GetTempPath(), $"halo-gw-{Guid.NewGuid():N}.yaml");

    /// <summary>The gateway config most tests use: every request round-robin over the service `web`, 500 ms per try.</summary>
    public const string WebRoundRobin = """
        routes: [{cluster: web}]
        clusters:
          web:
            service: web
            policy: round-robin
            retry: { perTryTimeout: 500ms }
        """;

    public List<(ChildProcess Process, Uri Url, string Name)> Backends { get; } = [];

    public ChildProcess Gateway { get; private set; } = null!;

    public Uri GatewayUrl { get; private set; } = null!;

    /// <summary>Starts one backend with extra arguments (--tls-cert/--tls-key/--tls-client-ca to serve HTTPS).</summary>
    public async Task<Uri> StartBackendAsync(string name, params string[] args)
    {
        var process = ChildProcess.Start(Artifacts.Backend, ["--port", "0", "--name", name, .. args]);
        _processes.Add(process);
        var url = await process.WaitListeningAsync(StartCpu, StartBound);
        Backends.Add((process, url, name));
        return url;
    }

    public async Task StartBackendsAsync(params string[] names)
    {
        var started = names.Select(n => (Process: ChildProcess.Start(Artifacts.Backend, "--port", "0", "--name", n), Name: n)).ToList();
        _processes.AddRange(started.Select(s => s.Process));
        foreach (var (p, n) in started)
        {
            Backends.Add((p, await p.WaitListeningAsync(StartCpu, StartBound), n));
        }
    }

    public string Url(string name) => Backends.Single(b => b.Name == name).Url.GetLeftPart(UriPartial.Authority);

    public ChildProcess Backend(string name) => Backends.Single(b => b.Name == name).Process;

    public async Task StartGatewayAsync(string yaml, string server = "http://127.0.0.1:9")
    {
        await File.WriteAllTextAsync(_configPath, yaml);
        Gateway = ChildProcess.Start(HaloProcess.HaloDll, "gateway", "--config", _configPath, "--listen", "127.0.0.1:0", "--server", server, "--token-file", HaloProcess.TokenFile);
        _processes.Add(Gateway);
        GatewayUrl = await Gateway.WaitListeningAsync(StartCpu, StartBound);
    }

    public ChildProcess RunGatewayWithConfig(string yaml)
    {
        File.WriteAllText(_configPath, yaml);
        var p = ChildProcess.Start(HaloProcess.HaloDll, "gateway", "--config", _configPath, "--listen", "127.0.0.1:0");
        _processes.Add(p);
        return p;
    }

    /// <summary>
    /// Warms up the gateway and backends (JIT, connection pools, probes, latency estimates) until a round of load is steady:
    /// no failed request, every one of <paramref name="serving"/> (default: every backend) answered and no other backend did
    /// (a cold primary whose first probes timed out spills to the backup until it rises again). A fixed 1.5 s was
    /// steady only by luck: at load 45-70 the processes were still cold after it (8 requests in the next run's first second),
    /// tries timed out and the first 504s came before the fault the test injects. Bounded; a gateway that never settles
    /// fails here, naming the last round.
    /// </summary>
    public async Task WarmUpAsync(params string[] serving)
    {
        var expected = serving.Length > 0 ? serving : Backends.Select(b => b.Name).ToArray();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var round = await LoadRun.RunAsync(GatewayUrl, 8, TimeSpan.FromSeconds(1.5));
            if (round.Failures == 0 && expected.All(name => round.ByBackend.GetValueOrDefault(name) > 0)
                && round.ByBackend.Keys.All(expected.Contains))
            {
                return;
            }

            if (clock.Elapsed > WarmUpBound)
            {
                throw new TimeoutException($"the gateway was not steady within {WarmUpBound} of warm-up; last round: {round}");
            }
        }
    }

    public void Dispose()
    {
        foreach (var p in _processes)
        {
            p.Dispose();
        }

        File.Delete(_configPath);
    }
}
