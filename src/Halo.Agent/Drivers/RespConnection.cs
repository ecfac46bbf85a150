using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Halo.Core;

namespace Halo.Agent.Drivers;

/// <summary>
/// A minimal RESP2 connection: one command at a time, every call bounded by a timeout. We speak RESP directly instead of
/// through a multiplexer so a crashed server is seen on the very next command (no background reconnects or command
/// backlog hiding it) and admin commands (REPLICAOF, CONFIG SET) go out exactly as written.
/// </summary>
public sealed class RespConnection : IAsyncDisposable
{
    private readonly TcpClient _client;
    private readonly Stream _stream;
    private readonly TimeProvider _time;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;

    private RespConnection(TcpClient client, Stream stream, TimeProvider time)
    {
        _client = client;
        _stream = stream;
        _time = time;
    }

    public static Task<RespConnection> ConnectAsync(string host, int port, TimeSpan timeout, CancellationToken ct = default) =>
        ConnectAsync(host, port, timeout, TimeProvider.System, ct);

    /// <summary>Connects within <paramref name="timeout"/> without authenticating; every timeout of this connection runs on <paramref name="time"/>'s clock.</summary>
    public static Task<RespConnection> ConnectAsync(string host, int port, TimeSpan timeout, TimeProvider time, CancellationToken ct = default) =>
        ConnectAsync(host, port, timeout, time, null, null, ct);

    /// <summary>
    /// Connects within <paramref name="timeout"/> and, with <paramref name="auth"/>, authenticates (a refusal throws
    /// <see cref="InvalidOperationException"/> with Redis' reason, never the password); every timeout of this connection
    /// runs on <paramref name="time"/>'s clock.
    /// </summary>
    public static async Task<RespConnection> ConnectAsync(string host, int port, TimeSpan timeout, TimeProvider time, RedisAuth? auth, RedisTls? tls = null,
        CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(time);
        var client = new TcpClient { NoDelay = true };
        RespConnection? connection = null;
        try
        {
            Stream stream;
            using (var deadline = new Deadline(timeout, time, ct))
            {
                await client.ConnectAsync(host, port, deadline.Token).ConfigureAwait(false);
                stream = client.GetStream();
                if (tls is not null)
                {
                    // The handshake shares the connect deadline: a Redis that accepts but never finishes TLS is down, not hung.
                    var ssl = new System.Net.Security.SslStream(stream, leaveInnerStreamOpen: false);
                    stream = ssl;
                    try
                    {
                        await ssl.AuthenticateAsClientAsync(tls.ClientOptions(host), deadline.Token).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (ex is System.Security.Authentication.AuthenticationException or System.Security.Cryptography.CryptographicException)
                    {
                        // An IOException like any connection failure: the probe reports the member down with this reason.
                        throw new IOException($"TLS to {host}:{port}: {ex.GetBaseException().Message}", ex);
                    }
                }
            }

            connection = new RespConnection(client, stream, time);
            if (auth is not null && await connection.ExecuteAsync(timeout, ct, auth.Command).ConfigureAwait(false) is RespError refused)
            {
                throw new InvalidOperationException($"AUTH as {auth.User ?? "default"}: {refused.Message}");
            }

            return connection;
        }
        catch
        {
            if (connection is not null)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
            else
            {
                client.Dispose();
            }

            throw;
        }
    }

    /// <summary>Sends one command and reads its reply: string, long, null, RespError or object?[] for arrays.</summary>
    public async Task<object?> ExecuteAsync(TimeSpan timeout, CancellationToken ct, params string[] args)
    {
        using var cts = new Deadline(timeout, _time, ct);
        var sb = new StringBuilder().Append('*').Append(args.Length).Append("\r\n");
        foreach (var a in args)
        {
            sb.Append('$').Append(Encoding.UTF8.GetByteCount(a)).Append("\r\n").Append(a).Append("\r\n");
        }

        await _stream.WriteAsync(Encoding.UTF8.GetBytes(sb.ToString()), cts.Token).ConfigureAwait(false);
        return await ReadReplyAsync(cts.Token).ConfigureAwait(false);
    }

    private async Task<object?> ReadReplyAsync(CancellationToken ct)
    {
        var line = await ReadLineAsync(ct).ConfigureAwait(false);
        var body = line[1..];
        switch (line[0])
        {
            case '+':
                return body;
            case '-':
                return new RespError(body);
            case ':':
                return long.Parse(body, CultureInfo.InvariantCulture);
            case '$':
                var length = int.Parse(body, CultureInfo.InvariantCulture);
                if (length < 0)
                {
                    return null;
                }

                var bytes = await ReadExactAsync(length + 2, ct).ConfigureAwait(false);
                return Encoding.UTF8.GetString(bytes, 0, length);
            case '*':
                var count = int.Parse(body, CultureInfo.InvariantCulture);
                if (count < 0)
                {
                    return null;
                }

                var items = new object?[count];
                for (var i = 0; i < count; i++)
                {
                    items[i] = await ReadReplyAsync(ct).ConfigureAwait(false);
                }

                return items;
            default:
                throw new IOException($"unexpected RESP reply type '{line[0]}'");
        }
    }

    private async Task<string> ReadLineAsync(CancellationToken ct)
    {
        while (true)
        {
            var span = _buffer.AsSpan(_start, _end - _start);
            var newline = span.IndexOf("\r\n"u8);
            if (newline >= 0)
            {
                var line = Encoding.UTF8.GetString(span[..newline]);
                _start += newline + 2;
                return line;
            }

            await FillAsync(ct).ConfigureAwait(false);
        }
    }

    private async Task<byte[]> ReadExactAsync(int count, CancellationToken ct)
    {
        var result = new byte[count];
        var copied = 0;
        while (copied < count)
        {
            if (_start == _end)
            {
                await FillAsync(ct).ConfigureAwait(false);
            }

            var n = Math.Min(count - copied, _end - _start);
            Array.Copy(_buffer, _start, result, copied, n);
            _start += n;
            copied += n;
        }

        return result;
    }

    private async Task FillAsync(CancellationToken ct)
    {
        if (_start > 0)
        {
            Array.Copy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        if (_end == _buffer.Length)
        {
            throw new IOException("RESP reply line too long");
        }

        var read = await _stream.ReadAsync(_buffer.AsMemory(_end), ct).ConfigureAwait(false);
        if (read == 0)
        {
            throw new IOException("connection closed by the server");
        }

        _end += read;
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync().ConfigureAwait(false);
        _client.Dispose();
    }
}

/// <summary>An error reply (-ERR ..., -READONLY ..., -NOREPLICAS ...).</summary>
public sealed record RespError(string Message);
