using System.Text;

namespace Halo.Gateway.Proxy.Http1;

/// <summary>Where one header line sits in a message head: name and value (trimmed) and the whole line with its CRLF.</summary>
internal struct HeaderLine
{
    public int LineStart;
    public int NameLength;
    public int ValueStart;
    public int ValueLength;
    public int LineEnd; // just past the line's LF
    public bool Skip;   // hop-by-hop: not forwarded
}

/// <summary>Byte-level HTTP/1.1 helpers shared by the request and response head parsers.</summary>
internal static class Http1Syntax
{
    /// <summary>
    /// Headers that describe one hop, never forwarded (YARP's list, so both forwarding paths agree):
    /// Connection and what it governs, proxy credentials, protocol-switch headers, Alt-Svc.
    /// </summary>
    public static bool IsHopByHop(ReadOnlySpan<byte> name) => name.Length switch
    {
        2 => Ascii.EqualsIgnoreCase(name, "te"u8),
        4 => Ascii.EqualsIgnoreCase(name, "alpn"u8),
        5 => Ascii.EqualsIgnoreCase(name, "close"u8),
        7 => Ascii.EqualsIgnoreCase(name, "upgrade"u8) || Ascii.EqualsIgnoreCase(name, "alt-svc"u8),
        10 => Ascii.EqualsIgnoreCase(name, "connection"u8) || Ascii.EqualsIgnoreCase(name, "keep-alive"u8),
        14 => Ascii.EqualsIgnoreCase(name, "http2-settings"u8) || Ascii.EqualsIgnoreCase(name, "proxy-features"u8),
        15 => Ascii.EqualsIgnoreCase(name, "security-scheme"u8),
        16 => Ascii.EqualsIgnoreCase(name, "proxy-connection"u8),
        17 => Ascii.EqualsIgnoreCase(name, "transfer-encoding"u8) || Ascii.EqualsIgnoreCase(name, "proxy-instruction"u8),
        18 => Ascii.EqualsIgnoreCase(name, "proxy-authenticate"u8),
        19 => Ascii.EqualsIgnoreCase(name, "proxy-authorization"u8),
        25 => Ascii.EqualsIgnoreCase(name, "proxy-authentication-info"u8) || Ascii.EqualsIgnoreCase(name, "upgrade-insecure-requests"u8),
        _ => false,
    };

    /// <summary>RFC 9110 token characters (header names, methods).</summary>
    public static bool IsTokenChar(byte b) =>
        (uint)(b - 'a') <= 'z' - 'a' || (uint)(b - 'A') <= 'Z' - 'A' || (uint)(b - '0') <= 9
        || b is (byte)'!' or (byte)'#' or (byte)'$' or (byte)'%' or (byte)'&' or (byte)'\'' or (byte)'*'
            or (byte)'+' or (byte)'-' or (byte)'.' or (byte)'^' or (byte)'_' or (byte)'`' or (byte)'|' or (byte)'~';

    /// <summary>Parses a Content-Length value: 1–18 digits, nothing else.</summary>
    public static bool TryParseLength(ReadOnlySpan<byte> value, out long length)
    {
        length = 0;
        if (value.IsEmpty || value.Length > 18)
        {
            return false;
        }

        foreach (var b in value)
        {
            if ((uint)(b - '0') > 9)
            {
                return false;
            }

            length = (length * 10) + (b - '0');
        }

        return true;
    }

    /// <summary>
    /// Parses one header line starting at <paramref name="start"/> (which is not the blank line).
    /// Strict: a token name, a colon right after it, a value of visible ASCII, spaces and tabs, CRLF.
    /// Returns false on anything else (obs-fold, bare LF, control or non-ASCII bytes) so the caller can
    /// refuse or hand the message to a full parser; sets <paramref name="incomplete"/> when the line has not fully arrived.
    /// </summary>
    public static bool TryParseHeaderLine(ReadOnlySpan<byte> head, int start, out HeaderLine line, out bool incomplete)
    {
        line = default;
        incomplete = false;
        var lf = head[start..].IndexOf((byte)'\n');
        if (lf < 0)
        {
            incomplete = true;
            return false;
        }

        var end = start + lf; // index of LF
        if (lf < 2 || head[end - 1] != '\r')
        {
            return false;
        }

        var colon = head[start..end].IndexOf((byte)':');
        if (colon <= 0)
        {
            return false;
        }

        for (var i = start; i < start + colon; i++)
        {
            if (!IsTokenChar(head[i]))
            {
                return false;
            }
        }

        var v = start + colon + 1;
        var vEnd = end - 1; // CR
        for (var i = v; i < vEnd; i++)
        {
            var b = head[i];
            if (b is < 0x20 and not (byte)'\t' || b >= 0x7F)
            {
                return false;
            }
        }

        while (v < vEnd && head[v] is (byte)' ' or (byte)'\t')
        {
            v++;
        }

        while (vEnd > v && head[vEnd - 1] is (byte)' ' or (byte)'\t')
        {
            vEnd--;
        }

        line = new HeaderLine { LineStart = start, NameLength = colon, ValueStart = v, ValueLength = vEnd - v, LineEnd = end + 1 };
        return true;
    }

    /// <summary>
    /// Reads a Connection header value: sets <paramref name="close"/> for "close"; returns false when it names
    /// anything but close / keep-alive (a header the sender wants dropped, or an upgrade), which the caller
    /// does not handle itself.
    /// </summary>
    public static bool TryReadConnection(ReadOnlySpan<byte> value, ref bool close)
    {
        while (!value.IsEmpty)
        {
            var comma = value.IndexOf((byte)',');
            var token = (comma < 0 ? value : value[..comma]).Trim(" \t"u8);
            if (Ascii.EqualsIgnoreCase(token, "close"u8))
            {
                close = true;
            }
            else if (!token.IsEmpty && !Ascii.EqualsIgnoreCase(token, "keep-alive"u8))
            {
                return false;
            }

            value = comma < 0 ? default : value[(comma + 1)..];
        }

        return true;
    }
}
