using System.Text;

namespace Halo.Gateway.Proxy.Http1;

/// <summary>How the end of a response body is found.</summary>
internal enum BodyFraming
{
    /// <summary>No body (HEAD, 1xx, 204, 304, or Content-Length: 0).</summary>
    None,
    /// <summary>Exactly Content-Length bytes.</summary>
    Length,
    /// <summary>Transfer-Encoding ending in chunked: scanned by <see cref="ChunkedScanner"/>.</summary>
    Chunked,
    /// <summary>Until the backend closes the connection (HTTP/1.0 style).</summary>
    UntilClose,
}

/// <summary>
/// A backend's response head, parsed in place (reused per backend exchange). Strict like
/// <see cref="RequestHead"/>; a head it cannot read is the backend's fault (502, retried when allowed),
/// as HttpClient's parser failing would be on the YARP path.
/// </summary>
internal sealed class ResponseHead
{
    /// <summary>Largest response head accepted (HttpClient's default MaxResponseHeadersLength is 64 KB).</summary>
    public const int MaxHeadBytes = 64 * 1024;

    private const int MaxHeaders = 100;
    private readonly HeaderLine[] _headers = new HeaderLine[MaxHeaders];

    public int Status { get; private set; }

    /// <summary>Offset of the status code in the head (the status line is rewritten from here on as HTTP/1.1).</summary>
    public int StatusLineRest { get; private set; }

    public int StatusLineEnd { get; private set; }

    public int HeaderCount { get; private set; }

    public ReadOnlySpan<HeaderLine> Headers => _headers.AsSpan(0, HeaderCount);

    public BodyFraming Framing { get; private set; }

    public long ContentLength { get; private set; }

    /// <summary>The backend will not take another request on this connection.</summary>
    public bool Close { get; private set; }

    public bool AnySkipped { get; private set; }

    public int Length { get; private set; }

    /// <summary>Parses; true with <see cref="Length"/> set, false with <paramref name="incomplete"/> when more bytes are needed, false otherwise for a bad head.</summary>
    public bool TryParse(ReadOnlySpan<byte> data, bool headRequest, out bool incomplete)
    {
        incomplete = false;
        HeaderCount = 0;
        Close = false;
        AnySkipped = false;
        ContentLength = -1;
        var lf = data.IndexOf((byte)'\n');
        if (lf < 0)
        {
            incomplete = data.Length < MaxHeadBytes;
            return false;
        }

        // HTTP/1.x SP 3DIGIT [SP reason] CRLF
        if (lf < 13 || data[lf - 1] != '\r' || !data[..7].SequenceEqual("HTTP/1."u8) || data[7] is not ((byte)'0' or (byte)'1')
            || data[8] != ' ' || (uint)(data[9] - '1') > 4 || (uint)(data[10] - '0') > 9 || (uint)(data[11] - '0') > 9
            || (data[12] != ' ' && data[12] != '\r'))
        {
            return false;
        }

        var http10 = data[7] == '0';
        Status = ((data[9] - '0') * 100) + ((data[10] - '0') * 10) + (data[11] - '0');
        StatusLineRest = 9;
        StatusLineEnd = lf + 1;
        var pos = lf + 1;
        var chunked = false;
        var transferEncoding = false;
        var keepAlive = false;
        while (true)
        {
            if (pos + 2 > data.Length)
            {
                incomplete = data.Length < MaxHeadBytes;
                return false;
            }

            if (data[pos] == '\r')
            {
                if (data[pos + 1] != '\n')
                {
                    return false;
                }

                Length = pos + 2;
                break;
            }

            if (HeaderCount == MaxHeaders)
            {
                return false;
            }

            if (!Http1Syntax.TryParseHeaderLine(data, pos, out var line, out var lineIncomplete))
            {
                incomplete = lineIncomplete && data.Length < MaxHeadBytes;
                return false;
            }

            var name = data.Slice(line.LineStart, line.NameLength);
            var value = data.Slice(line.ValueStart, line.ValueLength);
            if (name.Length == 14 && Ascii.EqualsIgnoreCase(name, "content-length"u8))
            {
                if (!Http1Syntax.TryParseLength(value, out var cl) || (ContentLength >= 0 && cl != ContentLength))
                {
                    return false;
                }

                ContentLength = cl;
            }
            else if (name.Length == 17 && Ascii.EqualsIgnoreCase(name, "transfer-encoding"u8))
            {
                // Framed verbatim to the client, so the header stays; chunked must be the last coding.
                transferEncoding = true;
                var v = value;
                var comma = v.LastIndexOf((byte)',');
                chunked = Ascii.EqualsIgnoreCase((comma < 0 ? v : v[(comma + 1)..]).Trim(" \t"u8), "chunked"u8);
            }
            else if (name.Length == 10 && Ascii.EqualsIgnoreCase(name, "connection"u8))
            {
                line.Skip = true;
                var close = false;
                if (!Http1Syntax.TryReadConnection(value, ref close))
                {
                    // Other connection options: treat the connection as not reusable and drop the header.
                    close = true;
                }

                Close |= close;
                keepAlive |= !close && Ascii.EqualsIgnoreCase(value, "keep-alive"u8);
            }
            else
            {
                line.Skip = Http1Syntax.IsHopByHop(name);
            }

            AnySkipped |= line.Skip;
            _headers[HeaderCount++] = line;
            pos = line.LineEnd;
        }

        if (http10 && !keepAlive)
        {
            Close = true;
        }

        if (transferEncoding && ContentLength >= 0)
        {
            // RFC 9112 6.3: Transfer-Encoding wins; the Content-Length must not be forwarded.
            for (var i = 0; i < HeaderCount; i++)
            {
                var h = _headers[i];
                if (h.NameLength == 14 && Ascii.EqualsIgnoreCase(data.Slice(h.LineStart, 14), "content-length"u8))
                {
                    _headers[i].Skip = true;
                    AnySkipped = true;
                }
            }

            ContentLength = -1;
        }

        if (headRequest || Status is < 200 or 204 or 304)
        {
            Framing = BodyFraming.None;
        }
        else if (transferEncoding)
        {
            Framing = chunked ? BodyFraming.Chunked : BodyFraming.UntilClose;
        }
        else if (ContentLength >= 0)
        {
            Framing = ContentLength == 0 ? BodyFraming.None : BodyFraming.Length;
        }
        else
        {
            Framing = BodyFraming.UntilClose;
        }

        if (Framing == BodyFraming.UntilClose)
        {
            Close = true;
        }

        return true;
    }
}
