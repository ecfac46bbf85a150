// Every wait in these tests has its own bound.
#pragma warning disable xUnit1051

using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using CsCheck;
using Halo.IntegrationTests.Gateway;
using Halo.Server.Tests.Security;

namespace Halo.IntegrationTests.Security;

/// <summary>
/// Random requests as raw bytes over real sockets (CsCheck) to a real `halo gateway` in front of a real backend: random and
/// malformed methods, request lines and versions; paths with <c>..</c>, <c>%2F</c>, <c>%00</c>, raw non-ASCII bytes, 9 KB and
/// 70 KB long; headers that are huge, too many, duplicated (Host, Content-Length), malformed, non-ASCII, <c>Connection:
/// upgrade</c>, <c>Expect</c>, forged X-Forwarded-*; bodies framed right, framed wrong (Content-Length and Transfer-Encoding
/// together, duplicated or unparseable lengths, bad chunks) or cut short. Requests go to the proxy listener, where their shape
/// sends them down the HTTP/1.1 fast path or on to Kestrel and YARP, and to the admin listener.
/// <para>
/// Each must be answered without hanging and below 500, with two exceptions that are the gateway doing its job: 502/503/504
/// for a route whose only destination is down (the gateway cannot reach a backend; its answer says so), and 505 for a request
/// line naming an HTTP version other than 1.0/1.1 (RFC 9110 §15.6.6; Kestrel's answer). A 500 from the gateway itself — a
/// handler that threw — is always a failure. A connection closed without an answer is accepted only when the request never
/// finished (its body was cut short) or was too large to read (the server stops reading and closes, and the client may lose
/// the answer to a reset). Afterwards the gateway still serves both paths and its working set stays bounded.
/// </para>
/// </summary>
public sealed class GatewayFuzzTests(ITestOutputHelper output) : IAsyncDisposable
{
    private const int Cases = 6_000;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan PerCase = TimeSpan.FromSeconds(15);
    private const long MaxWorkingSetBytes = 400L * 1024 * 1024;
    private const long MaxWorkingSetGrowthBytes = 150L * 1024 * 1024;

    private readonly string _dir = HaloProcess.TempDirectory("gateway-fuzz");
    private HaloProcess? _gateway;
    private ChildProcess? _backend;

    private enum Framing
    {
        None, Length, Chunked, ChunkedAndLength, TwoLengths, TwoDifferentLengths, BadLength, BadEncoding, BadChunk, CutShort, Trailing,
    }

    private sealed record Case(bool Admin, bool Second, string Method, string Target, string Version, string? Host, bool TwoHosts, string[] Headers, Framing Framing, byte[] Body)
    {
        /// <summary>The request never finishes: the client half-closes and the server may close without an answer.</summary>
        public bool CutShort => Framing is Framing.CutShort or Framing.BadChunk;

        /// <summary>Larger than Kestrel reads (request line 8 KB, headers 32 KB, 100 headers): it may close after its 414/431.</summary>
        public bool TooLarge => Target.Length > 8_000 || Headers.Sum(h => h.Length + 2) > 30_000 || Headers.Length > 90 || (Host?.Length ?? 0) > 8_000;

        /// <summary>Only a route under /down reaches the destination that is down.</summary>
        public bool MayReachDown => Target.Contains("down", StringComparison.OrdinalIgnoreCase);

        /// <summary>
        /// Whether the fast path takes it by its shape (src/Halo.Gateway/Proxy/Http1/RequestHead.cs); everything else is handed to
        /// Kestrel and YARP. An approximation used only to show both paths got many cases.
        /// </summary>
        public bool FastPathShape =>
            !Admin && Version == "HTTP/1.1" && Method.Length is > 0 and <= 16 && Method.All(c => c is >= 'A' and <= 'Z') && Method != "CONNECT"
            && Target.StartsWith('/') && !Target.Split('?')[0].Contains('%', StringComparison.Ordinal) && !Target.Contains("/.", StringComparison.Ordinal)
            && !Target.Contains("//", StringComparison.Ordinal) && !Target.Contains('\\', StringComparison.Ordinal) && !Target.Contains('#', StringComparison.Ordinal)
            && Target.All(c => c is > ' ' and < (char)0x7F) && Host is { Length: > 0 } && !TwoHosts && Host.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or ':')
            && Framing is Framing.None or Framing.Length or Framing.CutShort or Framing.Trailing
            && !Headers.Any(h => h.Contains("Expect:", StringComparison.OrdinalIgnoreCase) || h.Contains("Upgrade:", StringComparison.OrdinalIgnoreCase)
                || h.Contains("Transfer-Encoding:", StringComparison.OrdinalIgnoreCase) || !h.Contains(':', StringComparison.Ordinal) || h.StartsWith(' ') || h.Any(c => c >= 0x7F))
            && Headers.Length < 60 && Target.Length + Headers.Sum(h => h.Length + 2) < 7_000;

        public override string ToString() =>
            $"{(Admin ? "admin " : "")}{(Second ? "(second on its connection) " : "")}{Shorten(Method)} {Shorten(Target)} {Version} host={Shorten(Host ?? "(none)")}{(TwoHosts ? " x2" : "")} " +
            $"{Framing} body={Body.Length} headers=[{string.Join(" | ", Headers.Take(8).Select(Shorten))}{(Headers.Length > 8 ? $" +{Headers.Length - 8}" : "")}]";
    }

    private static string Shorten(string s) => s.Length <= 60 ? s : $"{s[..40]}...({s.Length})";

    [Fact]
    public async Task RandomRequests_BothPathsAndAdmin_AnsweredBelow500WithoutHanging_MemoryBounded()
    {
        var total = Stopwatch.StartNew();
        // Backend and gateway start side by side (a cold start takes seconds under load, and the test keeps within a minute).
        var backendPort = HaloProcess.FreePort();
        _backend = ChildProcess.Start(Artifacts.Backend, "--port", backendPort.ToString(CultureInfo.InvariantCulture), "--name", "b1");
        var gateway = StartGatewayAsync($"http://127.0.0.1:{backendPort}", $"http://127.0.0.1:{HaloProcess.FreePort()}");
        await _backend.WaitListeningAsync(Bound);
        var (proxy, admin) = await gateway;

        // Warm up (JIT, pools) before the first working-set reading, so growth measures the run, not the start.
        using (var http = new HttpClient { Timeout = Bound })
        {
            for (var i = 0; i < 50; i++)
            {
                using var warm = await http.GetAsync($"http://{proxy}/");
                Assert.True(warm.IsSuccessStatusCode, $"warm-up: {(int)warm.StatusCode}");
            }
        }

        var baseline = WorkingSet();
        var byStatus = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var fastShaped = 0;
        var adminCases = 0;
        var seconds = 0;
        var ran = 0;
        var slowest = TimeSpan.Zero;
        var run = Stopwatch.StartNew();
        await Generator(proxy, admin).SampleAsync(async c =>
        {
            var sw = Stopwatch.StartNew();
            var answer = await SendAsync(c.Admin ? admin : proxy, c);
            Interlocked.Increment(ref ran);
            lock (byStatus)
            {
                var key = (c.Admin ? "admin " : c.FastPathShape ? "fast " : "handed-off ") + answer.Label;
                byStatus[key] = byStatus.GetValueOrDefault(key) + 1;
                fastShaped += c.FastPathShape ? 1 : 0;
                adminCases += c.Admin ? 1 : 0;
                seconds += c.Second ? 1 : 0;
                slowest = sw.Elapsed > slowest ? sw.Elapsed : slowest;
            }

            Assert.False(answer.TimedOut, $"no answer within {PerCase}: {c}");
            Assert.True(answer.Status is not null || c.CutShort || c.TooLarge, $"closed without an answer: {c}");
            if (answer.Status is >= 500 and var status)
            {
                var legitimate = (status is 502 or 503 or 504 && c.MayReachDown && !answer.FromBackend)
                    || (status == 505 && c.Version is not ("HTTP/1.1" or "HTTP/1.0"));
                Assert.True(legitimate, $"{status}{(answer.FromBackend ? " (from the backend)" : "")} for {c}");
            }
        }, iter: Cases, threads: 4, print: c => c.ToString());
        run.Stop();

        Assert.Equal(Cases, ran);
        Assert.False(_gateway!.HasExited, "the gateway exited during the run");

        // Still serving: the fast path, YARP's path (HTTP/1.0) and the admin listener.
        using (var http = new HttpClient { Timeout = Bound })
        {
            using var fast = await http.GetAsync($"http://{proxy}/");
            Assert.Equal("b1", await fast.Content.ReadAsStringAsync());
            using var old = new HttpRequestMessage(HttpMethod.Get, $"http://{proxy}/") { Version = System.Net.HttpVersion.Version10, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
            using var yarp = await http.SendAsync(old);
            Assert.Equal("b1", await yarp.Content.ReadAsStringAsync());
            Assert.Contains("halo_gateway", await http.GetStringAsync($"http://{admin}/metrics"), StringComparison.Ordinal);
        }

        var after = WorkingSet();
        var histogram = string.Join(", ", byStatus.Select(s => $"{s.Key}: {s.Value}"));
        output.WriteLine($"{Cases} cases in {run.Elapsed.TotalSeconds:F1} s ({fastShaped} fast-path shaped, {Cases - fastShaped - adminCases} handed to Kestrel/YARP, " +
            $"{adminCases} to the admin listener; {seconds} second on a kept-alive connection); slowest {slowest.TotalMilliseconds:F0} ms; statuses: {histogram}");
        output.WriteLine($"gateway working set {baseline / 1048576} MiB after warm-up, {after / 1048576} MiB after the run; whole test {total.Elapsed.TotalSeconds:F1} s");
        Assert.True(after < MaxWorkingSetBytes, $"working set {after / 1048576} MiB after the run");
        Assert.True(after - baseline < MaxWorkingSetGrowthBytes, $"working set grew {(after - baseline) / 1048576} MiB during the run");
        // Both populations must be large, or the run says little about one of the paths.
        Assert.True(fastShaped > Cases / 5 && Cases - fastShaped - adminCases > Cases / 5 && adminCases > Cases / 20, histogram);
        var logged = _gateway.Output.Where(l => l.Contains("crit", StringComparison.OrdinalIgnoreCase) || l.Contains("Unhandled", StringComparison.Ordinal)).ToList();
        Assert.True(logged.Count == 0, string.Join('\n', logged.Take(5)));
    }

    private static Gen<Case> Generator(string proxy, string admin)
    {
        var word = FuzzInputs.Word;
        var method = Gen.Frequency(
            (24, Gen.OneOf("GET", "POST", "PUT", "DELETE")),
            (3, Gen.OneOf("HEAD", "OPTIONS", "PATCH", "TRACE", "CONNECT")),
            (1, Gen.OneOf("get", "FOO", "GÉT", "", "M-SEARCH", new string('X', 40), "GET\t")),
            (1, Gen.String[1, 10]));
        var segment = Gen.Frequency(
            (16, Gen.OneOf("", "echo", "header/X-Forwarded-For", "header/Host", "header/X-User", "status/200", "status/404", "status/418", "slow?ms=5", "healthz", "metrics")),
            (3, Gen.OneOf("..", "%2F", "%00", "%", "%zz", "a%20b", ".", "", "ünï", "🙂", "\\", "a b", "#frag", new string('a', 300))),
            (2, word.Select(FuzzInputs.Escape)),
            (1, word));
        var target = Gen.Frequency(
            (24, Gen.Select(Gen.Frequency((5, Gen.Const("/")), (2, Gen.Const("/h/")), (2, Gen.Const("/c/")), (1, Gen.Const("/down/"))), segment.Array[0, 3],
                Gen.Frequency((4, Gen.Const("")), (1, Gen.Select(word, word).Array[1, 3].Select(q => "?" + string.Join('&', q.Select(p => $"{FuzzInputs.Escape(p.Item1)}={p.Item2}"))))),
                (prefix, segments, query) => prefix + string.Join('/', segments) + query)),
            (1, Gen.OneOf("*", "", "http://evil.example/x", "//double", "/" + new string('p', 9_000), "/" + new string('p', 70_000), "/down" + new string('d', 5_000))));
        var version = Gen.Frequency((40, Gen.Const("HTTP/1.1")), (6, Gen.Const("HTTP/1.0")), (1, Gen.OneOf("HTTP/2.0", "HTTP/1.2", "HTTP/0.9", "http/1.1", "HTTP/1.1 ", "", "HTTP/3")));
        var header = Gen.Frequency(
            (12, Gen.OneOf(Gen.Const("Accept: */*"), Gen.Const("User-Agent: fuzz"), word.Select(w => "X-User: " + FuzzInputs.Escape(w)), word.Select(w => "Cookie: sid=" + FuzzInputs.Escape(w)))),
            (6, Gen.OneOf(word.Select(w => "X-Forwarded-For: " + w), Gen.Const("X-Forwarded-For: 203.0.113.7, 10.0.0.1"), Gen.Const("X-Forwarded-Proto: https"),
                Gen.Const("X-Forwarded-Proto: gopher"), word.Select(w => "X-Forwarded-Host: " + w), Gen.Const("Forwarded: for=203.0.113.7;proto=https;host=bank.example"))),
            (3, Gen.OneOf("Connection: upgrade\r\nUpgrade: websocket", "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA",
                "Connection: close", "Connection: keep-alive", "Connection: te, x-custom", "Connection: ,,,", "Connection: ü", "Expect: 100-continue", "Expect: nonsense")),
            (3, Gen.OneOf(word.Select(w => "X-User: " + w), word.Select(w => "Cookie: sid=" + w),
                Gen.OneOf("TE: trailers", "Keep-Alive: timeout=1", "Proxy-Connection: keep-alive", "Trailer: X-T", "Content-Type: application/json", "Accept-Encoding: gzip"))),
            (1, Gen.OneOf("X-Big: " + new string('b', 16_000), "X-Huge: " + new string('h', 70_000), string.Join("\r\n", Enumerable.Range(0, 120).Select(i => $"X-H{i}: v")))),
            (2, Gen.OneOf("X-Ünï: v", "X-Bad: aéb", "X-Nul: a\0b", "X-Ctl: a\u0001b", "NoColonHere", " obs-fold continuation", "Bad Name: v", ": empty-name", "X-Sp : v")));
        var host = Gen.Frequency((30, Gen.Const((string?)null)), (1, Gen.Const<string?>("")), (1, Gen.OneOf<string?>("evil.example", "a b", "ünï", "[::1", "h:99999", new string('h', 9_000))));
        var body = Gen.Frequency(
            (30, FuzzInputs.Body.Select(s => s is null ? [] : Encoding.UTF8.GetBytes(s))),
            (10, Gen.Byte.Array[0, 2_000]),
            (1, Gen.Const(new byte[1 << 20])));
        var framing = Gen.Frequency((16, Gen.Const(Framing.Length)), (8, Gen.Const(Framing.None)), (3, Gen.Const(Framing.Chunked)),
            (2, Gen.OneOf(Framing.ChunkedAndLength, Framing.TwoLengths, Framing.TwoDifferentLengths, Framing.BadLength, Framing.BadEncoding, Framing.BadChunk, Framing.CutShort, Framing.Trailing)));
        return
            from isAdmin in Gen.Frequency((9, Gen.Const(false)), (1, Gen.Const(true)))
            from second in Gen.Frequency((4, Gen.Const(false)), (1, Gen.Const(true)))
            from m in method
            from t in target
            from v in version
            from h in host
            from twoHosts in Gen.Frequency((15, Gen.Const(false)), (1, Gen.Const(true)))
            from noHost in Gen.Frequency((20, Gen.Const(false)), (1, Gen.Const(true)))
            from headers in header.Array[0, 4]
            from f in framing
            from b in body
            select new Case(isAdmin, second, m, t, v, noHost ? null : h ?? (isAdmin ? admin : proxy), twoHosts, headers, f, f == Framing.None ? [] : b);
    }

    private readonly record struct Answer(int? Status, bool TimedOut, bool FromBackend)
    {
        public string Label => TimedOut ? "timeout" : Status?.ToString(CultureInfo.InvariantCulture) ?? "closed";
    }

    /// <summary>
    /// Writes the case's bytes on a fresh connection — after a plain request answered on the same connection when the case is a
    /// second one, so the fast path meets it at a request boundary — and reads the answer's head (bounded by <see cref="PerCase"/>).
    /// </summary>
    private static async Task<Answer> SendAsync(string authority, Case c)
    {
        var endpoint = System.Net.IPEndPoint.Parse(authority);
        using var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var timeout = new CancellationTokenSource(PerCase);
        var reader = new HeadReader(socket);
        try
        {
            await socket.ConnectAsync(endpoint, timeout.Token);
            if (c.Second)
            {
                // OPTIONS: the backend answers 405 and the admin listener 404, both without a body, so the next head follows.
                await socket.SendAsync(Encoding.ASCII.GetBytes($"OPTIONS / HTTP/1.1\r\nHost: {authority}\r\n\r\n"), SocketFlags.None, timeout.Token);
                var first = await reader.NextAsync(timeout.Token);
                Assert.True(first.Status == (c.Admin ? 404 : 405) && first.FromBackend != c.Admin, $"the first request on the connection: {first.Label}");
            }

            try
            {
                await socket.SendAsync(Bytes(c), SocketFlags.None, timeout.Token);
                if (c.CutShort)
                {
                    socket.Shutdown(SocketShutdown.Send);
                }
            }
            catch (SocketException)
            {
                // The server stopped reading (it answered early and closed): its answer may still be waiting to be read.
            }

            return await reader.NextAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            return new Answer(null, TimedOut: true, false);
        }
    }

    /// <summary>Reads answer heads off a connection in turn (the bodies of all but the last must be empty).</summary>
    private sealed class HeadReader(Socket socket)
    {
        private readonly byte[] _buffer = new byte[64 * 1024];
        private int _filled;

        public async Task<Answer> NextAsync(CancellationToken ct)
        {
            var ended = false;
            while (true)
            {
                var text = Encoding.Latin1.GetString(_buffer, 0, _filled);
                var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
                if (end >= 0)
                {
                    Assert.True(text.StartsWith("HTTP/1.", StringComparison.Ordinal) && text.Length > 12, $"not an HTTP answer: {Shorten(text)}");
                    var status = int.Parse(text.AsSpan(9, 3), CultureInfo.InvariantCulture);
                    var rest = end + 4;
                    Buffer.BlockCopy(_buffer, rest, _buffer, 0, _filled - rest);
                    _filled -= rest;
                    if (status != 100)
                    {
                        return new Answer(status, false, text[..end].Contains("\r\nX-Backend:", StringComparison.OrdinalIgnoreCase));
                    }

                    // An interim answer to Expect: 100-continue; the final one follows.
                    continue;
                }

                if (ended || _filled == _buffer.Length)
                {
                    Assert.True(_filled == 0, $"a broken answer head: {Shorten(text)}");
                    return new Answer(null, false, false);
                }

                try
                {
                    var read = await socket.ReceiveAsync(_buffer.AsMemory(_filled), SocketFlags.None, ct);
                    _filled += read;
                    ended = read == 0;
                }
                catch (SocketException)
                {
                    ended = true;
                }
            }
        }
    }

    /// <summary>The request's bytes: request line, headers as written (UTF-8, so non-ASCII goes out raw), then the body as framed.</summary>
    private static byte[] Bytes(Case c)
    {
        var head = new StringBuilder();
        head.Append(c.Method).Append(' ').Append(c.Target).Append(c.Version.Length > 0 ? " " : "").Append(c.Version).Append("\r\n");
        if (c.Host is not null)
        {
            head.Append("Host: ").Append(c.Host).Append("\r\n");
        }

        if (c.TwoHosts)
        {
            head.Append("Host: evil.example\r\n");
        }

        foreach (var h in c.Headers)
        {
            head.Append(h).Append("\r\n");
        }

        var n = c.Body.Length;
        var body = c.Body;
        switch (c.Framing)
        {
            case Framing.Length:
                head.Append(CultureInfo.InvariantCulture, $"Content-Length: {n}\r\n");
                break;
            case Framing.Chunked or Framing.BadChunk:
                head.Append("Transfer-Encoding: chunked\r\n");
                body = Chunked(c.Body, c.Framing == Framing.BadChunk);
                break;
            case Framing.ChunkedAndLength:
                head.Append(CultureInfo.InvariantCulture, $"Content-Length: {n}\r\nTransfer-Encoding: chunked\r\n");
                body = Chunked(c.Body, bad: false);
                break;
            case Framing.TwoLengths:
                head.Append(CultureInfo.InvariantCulture, $"Content-Length: {n}\r\nContent-Length: {n}\r\n");
                break;
            case Framing.TwoDifferentLengths:
                head.Append(CultureInfo.InvariantCulture, $"Content-Length: {n}\r\nContent-Length: {n + 1}\r\n");
                break;
            case Framing.BadLength:
                head.Append("Content-Length: ").Append(new[] { "-1", "abc", "1e3", " 5 5", "99999999999999999999", "0x10", "+4", "" }[n % 8]).Append("\r\n");
                break;
            case Framing.BadEncoding:
                head.Append("Transfer-Encoding: ").Append(new[] { "gzip", "chunked, gzip", "identity", "chunked, chunked", "ch unked", "xchunked" }[n % 6]).Append("\r\n");
                break;
            case Framing.CutShort:
                head.Append(CultureInfo.InvariantCulture, $"Content-Length: {n + 100}\r\n");
                break;
            case Framing.Trailing:
                // A body longer than declared: the rest reads as the start of a next, malformed request.
                head.Append(CultureInfo.InvariantCulture, $"Content-Length: {n / 2}\r\n");
                break;
        }

        head.Append("\r\n");
        return [.. Encoding.UTF8.GetBytes(head.ToString()), .. body];
    }

    private static byte[] Chunked(byte[] body, bool bad)
    {
        using var stream = new MemoryStream();
        void Write(string s) => stream.Write(Encoding.ASCII.GetBytes(s));
        for (var at = 0; at < body.Length; at += 4096)
        {
            var size = Math.Min(4096, body.Length - at);
            Write(size.ToString("x", CultureInfo.InvariantCulture) + "\r\n");
            stream.Write(body, at, size);
            Write("\r\n");
        }

        // A bad chunk: a size that is not hex or does not fit in 64 bits, and no last chunk after it.
        Write(bad ? (body.Length % 2 == 0 ? "zz\r\nxx\r\n" : "123456789012345678\r\nxx\r\n") : "0\r\n\r\n");
        return stream.ToArray();
    }

    private long WorkingSet()
    {
        using var process = Process.GetProcessById(_gateway!.Pid);
        return process.WorkingSet64;
    }

    private async Task<(string Proxy, string Admin)> StartGatewayAsync(string backend, string down)
    {
        var config = Path.Combine(_dir, "gateway.yaml");
        // Generous per-try timeouts for the live backend (under load a cold answer can take seconds: not the subject here); a short
        // one for the destination that is down, whose 502/503/504 are the gateway's legitimate answers.
        await File.WriteAllTextAsync(config, $$"""
            adminListen: 127.0.0.1:0
            routes:
              - {cluster: web}
              - {path: /h, cluster: byheader}
              - {path: /c, cluster: bycookie}
              - {path: /down, cluster: down}
            clusters:
              web:
                destinations: [{url: '{{backend}}'}]
                retry: {perTryTimeout: 10s}
              byheader:
                destinations: [{url: '{{backend}}'}]
                policy: consistent-hash
                hash: {on: header, name: X-User}
                retry: {perTryTimeout: 10s}
              bycookie:
                destinations: [{url: '{{backend}}'}]
                policy: consistent-hash
                hash: {on: cookie, name: sid}
                retry: {perTryTimeout: 10s}
              down:
                destinations: [{url: '{{down}}'}]
                retry: {perTryTimeout: 2s}

            """);
        _gateway = HaloProcess.Start("gateway", "--config", config, "--listen", "127.0.0.1:0");
        var proxy = new Uri((await _gateway.WaitForLineAsync("halo gateway listening on ", Bound)).Split(' ')[^1]).Authority;
        var admin = new Uri((await _gateway.WaitForLineAsync("halo gateway admin (metrics) on ", Bound)).Split(' ')[^1]).Authority;
        return (proxy, admin);
    }

    public async ValueTask DisposeAsync()
    {
        if (_gateway is not null)
        {
            output.WriteLine(string.Join('\n', _gateway.Output.TakeLast(20)));
            await _gateway.DisposeAsync();
        }

        _backend?.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
