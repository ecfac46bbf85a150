using System.Net;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Halo.Gateway.Proxy;

/// <summary>
/// X-Forwarded-For/Proto/Host as backends should see them: set by this gateway from the connection it accepted, so a
/// client cannot claim another address, scheme or host. Inbound values (and RFC 7239 Forwarded) are dropped unless the
/// peer is one of <c>trustedProxies</c> (a load balancer in front): then its X-Forwarded-For is kept with the peer's
/// address appended, and its Proto and Host are kept. Both forwarding paths (YARP and the HTTP/1 fast path) use it.
/// </summary>
internal sealed class ForwardedHeaders
{
    public const string For = "X-Forwarded-For";
    public const string Proto = "X-Forwarded-Proto";
    public const string Host = "X-Forwarded-Host";
    public const string Forwarded = "Forwarded";

    private readonly IReadOnlyList<IPNetwork> _trusted;

    public ForwardedHeaders(IReadOnlyList<IPNetwork> trusted) => _trusted = trusted;

    /// <summary>True when <paramref name="peer"/> is a trusted proxy whose forwarded headers are kept.</summary>
    public bool IsTrusted(IPAddress? peer)
    {
        if (peer is null || _trusted.Count == 0)
        {
            return false;
        }

        if (peer.IsIPv4MappedToIPv6)
        {
            peer = peer.MapToIPv4();
        }

        foreach (var network in _trusted)
        {
            if (network.Contains(peer))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Sets the forwarded headers on a request YARP is about to send (after the inbound headers were copied).</summary>
    public void Apply(HttpContext context, HttpRequestMessage proxyRequest)
    {
        var peer = context.Connection.RemoteIpAddress;
        var headers = proxyRequest.Headers;
        var trusted = IsTrusted(peer);
        var inboundFor = trusted ? context.Request.Headers[For].ToString() : "";
        var inboundProto = trusted ? context.Request.Headers[Proto].ToString() : "";
        var inboundHost = trusted ? context.Request.Headers[Host].ToString() : "";
        headers.Remove(For);
        headers.Remove(Proto);
        headers.Remove(Host);
        if (!trusted)
        {
            headers.Remove(Forwarded);
        }

        var address = peer is null ? "unknown" : (peer.IsIPv4MappedToIPv6 ? peer.MapToIPv4() : peer).ToString();
        headers.TryAddWithoutValidation(For, inboundFor.Length > 0 ? inboundFor + ", " + address : address);
        headers.TryAddWithoutValidation(Proto, inboundProto.Length > 0 ? inboundProto : context.Request.Scheme);
        headers.TryAddWithoutValidation(Host, inboundHost.Length > 0 ? inboundHost : context.Request.Host.Value ?? "");
    }

    /// <summary>True for a header the fast path drops from a client's request (it writes its own after the rest).</summary>
    public static bool IsForwardedHeader(ReadOnlySpan<byte> name) => name.Length switch
    {
        9 => Ascii.EqualsIgnoreCase(name, "forwarded"u8),
        15 => Ascii.EqualsIgnoreCase(name, "x-forwarded-for"u8),
        16 => Ascii.EqualsIgnoreCase(name, "x-forwarded-host"u8),
        17 => Ascii.EqualsIgnoreCase(name, "x-forwarded-proto"u8),
        _ => false,
    };

    /// <summary>Bytes <see cref="WriteFastPath"/> needs at most beyond the address and host.</summary>
    public const int FastPathOverhead = 80;

    /// <summary>
    /// Writes the three headers for a plain-HTTP client (the fast path only takes connections without TLS and from
    /// untrusted peers' forwarded headers, so it never appends to inbound ones). Returns the bytes written.
    /// </summary>
    public static int WriteFastPath(Span<byte> dest, ReadOnlySpan<byte> clientAddress, ReadOnlySpan<byte> host)
    {
        var pos = 0;
        Append(dest, ref pos, "X-Forwarded-For: "u8);
        Append(dest, ref pos, clientAddress);
        Append(dest, ref pos, "\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: "u8);
        Append(dest, ref pos, host);
        Append(dest, ref pos, "\r\n"u8);
        return pos;
    }

    private static void Append(Span<byte> dest, ref int pos, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(dest[pos..]);
        pos += bytes.Length;
    }
}
