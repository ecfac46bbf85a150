using System.Text;

namespace Halo.Gateway.Proxy.Http1;

/// <summary>What the fast path made of the bytes at the front of a connection.</summary>
internal enum HeadStatus
{
    /// <summary>A whole request head the fast path handles.</summary>
    Complete,
    /// <summary>Not all of the head has arrived yet.</summary>
    Incomplete,
    /// <summary>Anything else (HTTP/2 preface, HTTP/1.0, upgrade, chunked body, Expect, unusual syntax or
    /// size): left untouched for Kestrel and YARP, which implement the whole protocol and its errors.</summary>
    HandOff,
}

/// <summary>
/// One parsed HTTP/1.1 request head, reused for every request on a connection (no per-request
/// allocation). The parser is deliberately strict: it accepts the common shape of a request and hands
/// everything else to Kestrel, so it never has to produce a protocol error or normalise a path itself.
/// </summary>
internal sealed class RequestHead
{
    /// <summary>Largest head the fast path takes (Kestrel's request-line limit); larger ones go to Kestrel.</summary>
    public const int MaxHeadBytes = 8 * 1024;

    /// <summary>Most header lines the fast path takes; more go to Kestrel (limit 100).</summary>
    public const int MaxHeaders = 64;

    private static readonly System.Buffers.SearchValues<byte> HostChars =
        System.Buffers.SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]"u8);

    private readonly HeaderLine[] _headers = new HeaderLine[MaxHeaders];

    public int HeaderCount { get; private set; }

    public int MethodLength { get; private set; }

    public int TargetStart { get; private set; }

    public int PathLength { get; private set; }

    public int TargetLength { get; private set; }

    public int HostStart { get; private set; }

    public int HostLength { get; private set; }

    /// <summary>Request body length; 0 when the request has none.</summary>
    public long ContentLength { get; private set; }

    /// <summary>The client asked to close the connection after this exchange.</summary>
    public bool Close { get; private set; }

    /// <summary>Some header is hop-by-hop and must be dropped when forwarding.</summary>
    public bool AnySkipped { get; private set; }

    /// <summary>The client sent X-Forwarded-* or Forwarded headers (dropped unless it is a trusted proxy).</summary>
    public bool ForwardedSeen { get; private set; }

    /// <summary>Bytes up to and including the blank line.</summary>
    public int Length { get; private set; }

    public ReadOnlySpan<HeaderLine> Headers => _headers.AsSpan(0, HeaderCount);

    /// <summary>Parses the head at the start of <paramref name="data"/>.</summary>
    public HeadStatus Parse(ReadOnlySpan<byte> data)
    {
        HeaderCount = 0;
        ContentLength = 0;
        Close = false;
        AnySkipped = false;
        ForwardedSeen = false;
        HostLength = -1;
        var limit = Math.Min(data.Length, MaxHeadBytes);
        var head = data[..limit];

        // Request line: METHOD SP origin-form SP HTTP/1.1 CRLF.
        var lf = head.IndexOf((byte)'\n');
        if (lf < 0)
        {
            return limit == MaxHeadBytes ? HeadStatus.HandOff : HeadStatus.Incomplete;
        }

        if (!ParseRequestLine(head[..(lf + 1)]))
        {
            return HeadStatus.HandOff;
        }

        var pos = lf + 1;
        var contentLengthSeen = false;
        while (true)
        {
            if (pos + 2 > head.Length)
            {
                return limit == MaxHeadBytes ? HeadStatus.HandOff : HeadStatus.Incomplete;
            }

            if (head[pos] == '\r')
            {
                if (head[pos + 1] != '\n')
                {
                    return HeadStatus.HandOff;
                }

                Length = pos + 2;
                break;
            }

            if (HeaderCount == MaxHeaders)
            {
                return HeadStatus.HandOff;
            }

            if (!Http1Syntax.TryParseHeaderLine(head, pos, out var line, out var incomplete))
            {
                return incomplete && limit < MaxHeadBytes ? HeadStatus.Incomplete : HeadStatus.HandOff;
            }

            var name = head.Slice(line.LineStart, line.NameLength);
            var value = head.Slice(line.ValueStart, line.ValueLength);
            switch (name.Length)
            {
                case 4 when Ascii.EqualsIgnoreCase(name, "host"u8):
                    // Kestrel answers 400 to a malformed Host; leave anything unusual to it.
                    if (HostLength >= 0 || value.IsEmpty || value.IndexOfAnyExcept(HostChars) >= 0)
                    {
                        return HeadStatus.HandOff;
                    }

                    HostStart = line.ValueStart;
                    HostLength = line.ValueLength;
                    break;
                case 14 when Ascii.EqualsIgnoreCase(name, "content-length"u8):
                    if (contentLengthSeen || !Http1Syntax.TryParseLength(value, out var cl))
                    {
                        return HeadStatus.HandOff;
                    }

                    contentLengthSeen = true;
                    ContentLength = cl;
                    break;
                case 6 when Ascii.EqualsIgnoreCase(name, "expect"u8):
                case 7 when Ascii.EqualsIgnoreCase(name, "upgrade"u8):
                case 17 when Ascii.EqualsIgnoreCase(name, "transfer-encoding"u8):
                    // 100-continue, protocol upgrades (WebSockets) and chunked bodies: Kestrel and YARP handle those.
                    return HeadStatus.HandOff;
                case 10 when Ascii.EqualsIgnoreCase(name, "connection"u8):
                    var close = Close;
                    if (!Http1Syntax.TryReadConnection(value, ref close))
                    {
                        return HeadStatus.HandOff;
                    }

                    Close = close;
                    line.Skip = true;
                    break;
                default:
                    if (ForwardedHeaders.IsForwardedHeader(name))
                    {
                        // The gateway writes its own (ForwardedHeaders); a client's claim is not passed on.
                        ForwardedSeen = true;
                        line.Skip = true;
                        break;
                    }

                    line.Skip = Http1Syntax.IsHopByHop(name);
                    break;
            }

            AnySkipped |= line.Skip;
            _headers[HeaderCount++] = line;
            pos = line.LineEnd;
        }

        return HostLength < 0 ? HeadStatus.HandOff : HeadStatus.Complete;
    }

    /// <summary>Finds a header's value (case-insensitive name); false when absent.</summary>
    public bool TryGetValue(ReadOnlySpan<byte> head, ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value)
    {
        foreach (ref readonly var h in Headers)
        {
            if (h.NameLength == name.Length && Ascii.EqualsIgnoreCase(head.Slice(h.LineStart, h.NameLength), name))
            {
                value = head.Slice(h.ValueStart, h.ValueLength);
                return true;
            }
        }

        value = default;
        return false;
    }

    private bool ParseRequestLine(ReadOnlySpan<byte> line)
    {
        // line ends with LF; require CR before it.
        if (line.Length < 16 || line[^2] != '\r')
        {
            return false;
        }

        var sp = line.IndexOf((byte)' ');
        if (sp <= 0 || sp > 16)
        {
            return false;
        }

        for (var i = 0; i < sp; i++)
        {
            if ((uint)(line[i] - 'A') > 'Z' - 'A')
            {
                return false;
            }
        }

        var target = line[(sp + 1)..^2];
        var sp2 = target.IndexOf((byte)' ');
        if (sp2 <= 0 || !target[(sp2 + 1)..].SequenceEqual("HTTP/1.1"u8))
        {
            return false;
        }

        target = target[..sp2];
        if (target[0] != '/' || (sp == 7 && line[..7].SequenceEqual("CONNECT"u8)))
        {
            return false;
        }

        var query = target.IndexOf((byte)'?');
        var path = query < 0 ? target : target[..query];
        // Paths Kestrel would decode or normalise (%xx, dot segments, empty segments) and fragments go to
        // Kestrel, so routing here always sees the same path the backend will.
        if (path.IndexOfAny("%\\"u8) >= 0 || path.IndexOf("/."u8) >= 0 || path.IndexOf("//"u8) >= 0 || target.IndexOf((byte)'#') >= 0)
        {
            return false;
        }

        foreach (var b in target)
        {
            if (b is <= 0x20 or >= 0x7F)
            {
                return false;
            }
        }

        MethodLength = sp;
        TargetStart = sp + 1;
        TargetLength = sp2;
        PathLength = path.Length;
        return true;
    }
}
