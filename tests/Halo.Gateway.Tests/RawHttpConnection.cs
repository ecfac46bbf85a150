using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Halo.Gateway.Tests;

/// <summary>One client TCP connection speaking HTTP/1.1 by hand, to test what HttpClient hides: pipelining, framing, exact headers.</summary>
internal sealed class RawHttpConnection : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;

    private RawHttpConnection(Socket socket) => _socket = socket;

    public static async Task<RawHttpConnection> OpenAsync(IPEndPoint endPoint)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endPoint);
        return new RawHttpConnection(socket);
    }

    public async Task SendAsync(string text) => await SendAsync(Encoding.Latin1.GetBytes(text));

    public async Task SendAsync(byte[] data)
    {
        var sent = 0;
        while (sent < data.Length)
        {
            sent += await _socket.SendAsync(data.AsMemory(sent), SocketFlags.None);
        }
    }

    /// <summary>Reads one response (Content-Length, chunked, or until close); bounded by 10 s.</summary>
    public async Task<RawResponse> ReadResponseAsync(bool headRequest = false)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var headEnd = await FillUntilAsync(() => IndexOf("\r\n\r\n"u8), cts.Token);
        var head = Encoding.Latin1.GetString(_buffer, _start, headEnd - _start);
        _start = headEnd + 4;
        var lines = head.Split("\r\n");
        var status = int.Parse(lines[0].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        var headers = lines.Skip(1).Select(l => l.Split(':', 2)).Select(p => (p[0].Trim(), p[1].Trim())).ToList();
        string? Get(string n) => headers.Where(h => h.Item1.Equals(n, StringComparison.OrdinalIgnoreCase)).Select(h => h.Item2).FirstOrDefault();
        using var body = new MemoryStream();
        if (headRequest || status is 204 or 304)
        {
        }
        else if (Get("Transfer-Encoding") is { } te && te.EndsWith("chunked", StringComparison.OrdinalIgnoreCase))
        {
            while (true)
            {
                var lineEnd = await FillUntilAsync(() => IndexOf("\r\n"u8), cts.Token);
                var size = Convert.ToInt32(Encoding.ASCII.GetString(_buffer, _start, lineEnd - _start).Split(';')[0], 16);
                _start = lineEnd + 2;
                if (size == 0)
                {
                    var end = await FillUntilAsync(() => IndexOf("\r\n"u8), cts.Token);
                    _start = end + 2;
                    break;
                }

                await CopyAsync(body, size, cts.Token);
                await FillUntilAsync(() => _end - _start >= 2 ? _start : -1, cts.Token);
                _start += 2;
            }
        }
        else if (Get("Content-Length") is { } cl)
        {
            await CopyAsync(body, int.Parse(cl, System.Globalization.CultureInfo.InvariantCulture), cts.Token);
        }
        else
        {
            while (true)
            {
                body.Write(_buffer, _start, _end - _start);
                _start = _end = 0;
                var n = await _socket.ReceiveAsync(_buffer, SocketFlags.None, cts.Token);
                if (n == 0)
                {
                    break;
                }

                _end = n;
            }
        }

        return new RawResponse(status, headers, body.ToArray());
    }

    /// <summary>True when the server closed the connection (reads end of stream within the timeout).</summary>
    public async Task<bool> ClosedByServerAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            return await _socket.ReceiveAsync(new byte[1], SocketFlags.None, cts.Token) == 0;
        }
        catch (SocketException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Half-closes: the server reads end of stream after what was sent.</summary>
    public void ShutdownSend() => _socket.Shutdown(SocketShutdown.Send);

    /// <summary>True when the server ends the connection within the timeout, whatever it answers first.</summary>
    public async Task<bool> EndedByServerAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var sink = new byte[4096];
        try
        {
            while (await _socket.ReceiveAsync(sink, SocketFlags.None, cts.Token) > 0)
            {
            }

            return true;
        }
        catch (SocketException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        return default;
    }

    private int IndexOf(ReadOnlySpan<byte> pattern)
    {
        var i = _buffer.AsSpan(_start, _end - _start).IndexOf(pattern);
        return i < 0 ? -1 : _start + i;
    }

    private async Task<int> FillUntilAsync(Func<int> found, CancellationToken ct)
    {
        while (true)
        {
            var at = found();
            if (at >= 0)
            {
                return at;
            }

            if (_start > 0)
            {
                Array.Copy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }

            var n = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, ct);
            if (n == 0)
            {
                throw new IOException("connection closed before the response was complete");
            }

            _end += n;
        }
    }

    private async Task CopyAsync(Stream destination, int count, CancellationToken ct)
    {
        while (count > 0)
        {
            if (_end == _start)
            {
                _start = _end = 0;
                var n = await _socket.ReceiveAsync(_buffer, SocketFlags.None, ct);
                if (n == 0)
                {
                    throw new IOException("connection closed inside the body");
                }

                _end = n;
            }

            var take = Math.Min(count, _end - _start);
            destination.Write(_buffer, _start, take);
            _start += take;
            count -= take;
        }
    }
}

internal sealed record RawResponse(int Status, IReadOnlyList<(string Name, string Value)> Headers, byte[] Body)
{
    public string? Header(string name) => Headers.Where(h => h.Name.Equals(name, StringComparison.OrdinalIgnoreCase)).Select(h => h.Value).FirstOrDefault();

    public string Text => Encoding.UTF8.GetString(Body);
}
