using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Halo.IntegrationTests;

/// <summary>A real `halo` process started by a test, with its output captured; killed by pid when disposed.</summary>
public sealed class HaloProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly ConcurrentQueue<(DateTimeOffset At, string Line)> _timed = new();
    private readonly SemaphoreSlim _lineArrived = new(0);

    private HaloProcess(Process process) => _process = process;

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    public IReadOnlyCollection<string> Output => _lines;

    /// <summary>Every output line with when this test process read it: agents and proxies print no time of their own.</summary>
    public IReadOnlyCollection<(DateTimeOffset At, string Line)> TimedOutput => _timed;

    /// <summary>CPU time the process has used so far (zero once it has exited).</summary>
    public TimeSpan CpuTime
    {
        get
        {
            try
            {
                _process.Refresh();
                return _process.TotalProcessorTime;
            }
            catch (InvalidOperationException)
            {
                return TimeSpan.Zero;
            }
        }
    }

    public static string HaloDll => Path.Combine(AppContext.BaseDirectory, "halo.dll");

    private static readonly Lazy<(string File, string Token)> SuiteToken = new(() =>
    {
        var token = "halo_" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        var file = Path.Combine(TempDirectory("token"), "admin.token");
        Halo.Server.Security.TokenSecret.WriteFileAsync(file, token, CancellationToken.None).GetAwaiter().GetResult();
        return (file, token);
    });

    /// <summary>The suite's admin token file: every `halo server`/`halo up` started here is bootstrapped with it.</summary>
    public static string TokenFile => SuiteToken.Value.File;

    /// <summary>The suite's admin token.</summary>
    public static string Token => SuiteToken.Value.Token;

    /// <summary>A plain client of a server started here, carrying the suite's admin token.</summary>
    public static HttpClient Http(string? baseAddress = null, TimeSpan? timeout = null)
    {
        var http = new HttpClient { Timeout = timeout ?? TimeSpan.FromSeconds(30) };
        if (baseAddress is not null)
        {
            http.BaseAddress = new Uri(baseAddress);
        }

        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Token);
        return http;
    }

    public static HaloProcess Start(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(HaloDll);
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        info.Environment["DOTNET_gcServer"] = "0";
        // Auth is on by default: every server these tests start trusts the suite's admin token, and every verb sends it.
        info.Environment["HALO_TOKEN_FILE"] = TokenFile;
        info.Environment.Remove("HALO_TOKEN");
        if (args.Length > 0 && args[0] is ("server" or "up") && !args.Contains("--bootstrap-token-file") && !args.Contains("--insecure-allow-anonymous"))
        {
            info.ArgumentList.Add("--bootstrap-token-file");
            info.ArgumentList.Add(TokenFile);
        }

        var process = Process.Start(info)!;
        var halo = new HaloProcess(process);
        process.OutputDataReceived += (_, e) => halo.Add(e.Data);
        process.ErrorDataReceived += (_, e) => halo.Add(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return halo;
    }

    /// <summary>Runs `halo args` to completion (bounded) and returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(TimeSpan timeout, params string[] args)
    {
        await using var p = Start(args);
        using var cts = new CancellationTokenSource(timeout);
        await p._process.WaitForExitAsync(cts.Token);
        p._process.WaitForExit(); // drains the redirected output
        return (p._process.ExitCode, string.Join('\n', p._lines));
    }

    /// <summary>Waits (bounded) for an output line containing <paramref name="text"/>.</summary>
    public Task<string> WaitForLineAsync(string text, TimeSpan timeout) => WaitForLineAsync(text, cpuBudget: null, timeout);

    /// <summary>
    /// Waits for an output line containing <paramref name="text"/> (the process' own signal, e.g. "listening on") while the
    /// process makes progress: fails once it has used <paramref name="cpuBudget"/> of CPU without printing it (stuck), or after
    /// <paramref name="wallBound"/> (hung with nothing to run). A wall bound alone measures the machine: a `halo server` needs
    /// about 1 s of CPU to listen, which stress-ng stretches by the load factor (see ChildProcess.WaitListeningAsync for the
    /// gateway's figures: 1.2-1.5 s of wall time at load 15, 22-27 s at load 37-44).
    /// </summary>
    public async Task<string> WaitForLineAsync(string text, TimeSpan? cpuBudget, TimeSpan wallBound)
    {
        using var cts = new CancellationTokenSource(wallBound, TimeProvider.System);
        while (true)
        {
            var match = _lines.FirstOrDefault(l => l.Contains(text, StringComparison.Ordinal));
            if (match is not null)
            {
                return match;
            }

            if (_process.HasExited)
            {
                throw new InvalidOperationException($"halo exited ({_process.ExitCode}) before printing '{text}':\n{string.Join('\n', _lines)}");
            }

            if (cpuBudget is { } budget && CpuTime is var cpu && cpu > budget)
            {
                throw new TimeoutException($"no '{text}' after {cpu.TotalSeconds:0.00} s of its CPU (budget {budget.TotalSeconds} s), " +
                    $"load {File.ReadAllText("/proc/loadavg").Trim()}:\n{string.Join('\n', _lines)}");
            }

            try
            {
                await _lineArrived.WaitAsync(TimeSpan.FromMilliseconds(200), cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"no '{text}' within {wallBound}, load {File.ReadAllText("/proc/loadavg").Trim()}:\n{string.Join('\n', _lines)}");
            }
        }
    }

    /// <summary>kill -9: no chance to flush, close or deregister.</summary>
    public void KillHard()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: false);
            _process.WaitForExit(10_000);
        }
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>
    /// A free 127.0.0.1 port below the kernel's ephemeral range, for a process that must come back on the same port after a
    /// kill. A port from <see cref="FreePort"/> is an ephemeral one: while its process is down, any outgoing connection on the
    /// machine (the 200-instance fleet alone holds hundreds) can be given it as its local port, and the restart then fails with
    /// "address already in use" (ServerCluster, earlier runs). No connection is ever given a port below the range.
    /// </summary>
    public static int RestartablePort()
    {
        var low = EphemeralLow();
        for (var attempt = 0; attempt < 100; attempt++)
        {
            var port = Random.Shared.Next(Math.Max(1024, low - 12_000), low);
            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                return port;
            }
            catch (SocketException)
            {
                // Taken by another test's process: try another.
            }
        }

        throw new InvalidOperationException($"no free port below {low} in 100 tries");
    }

    private static int EphemeralLow()
    {
        try
        {
            return int.Parse(File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries)[0],
                System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or FormatException or UnauthorizedAccessException)
        {
            return 32_768; // Linux's default range starts here
        }
    }

    public static string TempDirectory(string name)
    {
        var dir = Path.Combine(ScratchRoot.Directory, $"{name}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }

    public async ValueTask DisposeAsync()
    {
        KillHard();
        _process.Dispose();
        await Task.CompletedTask;
    }

    private void Add(string? line)
    {
        if (line is not null)
        {
            _timed.Enqueue((DateTimeOffset.UtcNow, line));
            _lines.Enqueue(line);
            _lineArrived.Release();
        }
    }
}
