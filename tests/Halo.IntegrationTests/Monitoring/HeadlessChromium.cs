using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Halo.IntegrationTests.Monitoring;

/// <summary>
/// Debian's headless Chromium driven over the DevTools protocol with a plain WebSocket: no npm, no Playwright.
/// Started with a fresh profile and an OS-chosen debugging port (read back from DevToolsActivePort); killed by pid.
/// </summary>
public sealed class HeadlessChromium : IAsyncDisposable
{
    public const string Executable = "/usr/bin/chromium";

    private readonly Process _process;
    private readonly string _profile;
    private readonly ClientWebSocket _socket = new();
    private readonly ConcurrentDictionary<int, TaskCompletionSource<JsonNode?>> _pending = new();
    private readonly CancellationTokenSource _stop = new();
    private Task _receiver = Task.CompletedTask;
    private int _nextId;

    private HeadlessChromium(Process process, string profile)
    {
        _process = process;
        _profile = profile;
    }

    public static bool IsInstalled => File.Exists(Executable);

    /// <summary>Starts Chromium; <paramref name="extraArguments"/> go before the first page (e.g. --host-resolver-rules).</summary>
    public static async Task<HeadlessChromium> StartAsync(int width, int height, TimeSpan timeout, params string[] extraArguments)
    {
        var profile = HaloProcess.TempDirectory("chromium");
        var info = new ProcessStartInfo(Executable) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        string[] arguments =
        [
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-extensions", "--mute-audio",
            $"--user-data-dir={profile}", "--remote-debugging-port=0", $"--window-size={width},{height}", .. extraArguments, "about:blank",
        ];
        foreach (var arg in arguments)
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var browser = new HeadlessChromium(process, profile);
        try
        {
            await browser.ConnectAsync(timeout);
            return browser;
        }
        catch
        {
            await browser.DisposeAsync();
            throw;
        }
    }

    private async Task ConnectAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var portFile = Path.Combine(_profile, "DevToolsActivePort");
        string[] lines;
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"chromium exited with {_process.ExitCode} before listening");
            }

            if (File.Exists(portFile) && (lines = await File.ReadAllLinesAsync(portFile, cts.Token)).Length >= 2)
            {
                break;
            }

            await Task.Delay(100, cts.Token);
        }

        // The browser endpoint is in the file; the first page target is found through /json/list on the same port.
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        string? pageSocket = null;
        while (pageSocket is null)
        {
            var list = JsonNode.Parse(await http.GetStringAsync($"http://127.0.0.1:{lines[0]}/json/list", cts.Token))!.AsArray();
            pageSocket = list.FirstOrDefault(t => (string?)t!["type"] == "page")?["webSocketDebuggerUrl"]?.GetValue<string>();
            if (pageSocket is null)
            {
                await Task.Delay(100, cts.Token);
            }
        }

        await _socket.ConnectAsync(new Uri(pageSocket), cts.Token);
        _receiver = ReceiveLoopAsync();
    }

    /// <summary>Sends a DevTools command and returns its result (throws on a protocol error).</summary>
    public async Task<JsonNode?> SendAsync(string method, object? parameters = null, TimeSpan? timeout = null)
    {
        var id = Interlocked.Increment(ref _nextId);
        var done = new TaskCompletionSource<JsonNode?>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = done;
        var message = JsonSerializer.SerializeToUtf8Bytes(new { id, method, @params = parameters ?? new { } });
        await _socket.SendAsync(message, WebSocketMessageType.Text, true, _stop.Token);
        return await done.Task.WaitAsync(timeout ?? TimeSpan.FromSeconds(30));
    }

    public async Task NavigateAsync(string url)
    {
        await SendAsync("Page.enable");
        await SendAsync("Page.navigate", new { url });
    }

    /// <summary>Evaluates a JavaScript expression in the page and returns its JSON value.</summary>
    public async Task<JsonNode?> EvaluateAsync(string expression)
    {
        var result = await SendAsync("Runtime.evaluate", new { expression, returnByValue = true, awaitPromise = true });
        if (result?["exceptionDetails"] is { } error)
        {
            throw new InvalidOperationException($"page script failed: {error.ToJsonString()}");
        }

        return result?["result"]?["value"];
    }

    /// <summary>Polls <paramref name="condition"/> (a JS boolean expression) until true, bounded by <paramref name="timeout"/>.</summary>
    public async Task WaitForAsync(string condition, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                if (await EvaluateAsync($"Boolean({condition})") is JsonValue v && v.GetValue<bool>())
                {
                    return;
                }
            }
            catch (InvalidOperationException)
            {
                // The page may be mid-navigation; try again until the deadline.
            }

            if (clock.Elapsed > timeout)
            {
                var text = await EvaluateAsync("document.body ? document.body.innerText.slice(0, 3000) : ''");
                throw new TimeoutException($"{what}: not true within {timeout}. Page text:\n{text}");
            }

            await Task.Delay(200);
        }
    }

    /// <summary>Presses a key as a keyboard would (keyDown then keyUp), e.g. ("Tab", 9) or ("Enter", 13).</summary>
    public async Task PressAsync(string key, int keyCode, bool shift = false)
    {
        var text = key == "Enter" ? "\r" : null;
        var modifiers = shift ? 8 : 0;
        object down = text is null
            ? new { type = "rawKeyDown", key, code = key, windowsVirtualKeyCode = keyCode, modifiers }
            : new { type = "keyDown", key, code = key, windowsVirtualKeyCode = keyCode, text, modifiers };
        await SendAsync("Input.dispatchKeyEvent", down);
        await SendAsync("Input.dispatchKeyEvent", new { type = "keyUp", key, code = key, windowsVirtualKeyCode = keyCode, modifiers });
    }

    public async Task<byte[]> ScreenshotAsync()
    {
        var result = await SendAsync("Page.captureScreenshot", new { format = "png", captureBeyondViewport = false });
        return Convert.FromBase64String(result!["data"]!.GetValue<string>());
    }

    private async Task ReceiveLoopAsync()
    {
        var buffer = new byte[1 << 16];
        var message = new MemoryStream();
        try
        {
            while (_socket.State == WebSocketState.Open)
            {
                var read = await _socket.ReceiveAsync(buffer, _stop.Token);
                if (read.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }

                message.Write(buffer, 0, read.Count);
                if (!read.EndOfMessage)
                {
                    continue;
                }

                var node = JsonNode.Parse(Encoding.UTF8.GetString(message.GetBuffer(), 0, (int)message.Length));
                message.SetLength(0);
                if (node?["id"] is { } idNode && _pending.TryRemove(idNode.GetValue<int>(), out var waiter))
                {
                    if (node["error"] is { } error)
                    {
                        waiter.TrySetException(new InvalidOperationException($"DevTools error: {error.ToJsonString()}"));
                    }
                    else
                    {
                        waiter.TrySetResult(node["result"]);
                    }
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException)
        {
        }

        foreach (var waiter in _pending.Values)
        {
            waiter.TrySetException(new InvalidOperationException("the DevTools connection closed"));
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _socket.Abort();
        _socket.Dispose();
        await _receiver;
        if (!_process.HasExited)
        {
            // Chromium forks renderer and utility processes; they belong to this browser, so the tree goes with it.
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }

        _process.Dispose();
        _stop.Dispose();
        try
        {
            Directory.Delete(_profile, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
