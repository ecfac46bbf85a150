using System.Net;
using System.Net.Sockets;

namespace Halo.Gateway.Proxy.Engine;

/// <summary>Native sockaddr bytes to and from <see cref="IPEndPoint"/>, through .NET's own <see cref="SocketAddress"/> (its buffer is the native layout).</summary>
internal static class SocketAddresses
{
    /// <summary>Room for any address (struct sockaddr_storage).</summary>
    public const int MaxSize = 128;

    private static readonly IPEndPoint Template = new(IPAddress.Any, 0);

    public static IPEndPoint? ToEndPoint(ReadOnlySpan<byte> native)
    {
        if (native.Length < 2)
        {
            return null;
        }

        var family = (native[0] | (native[1] << 8)) switch
        {
            2 => AddressFamily.InterNetwork,
            10 => AddressFamily.InterNetworkV6,
            _ => AddressFamily.Unknown,
        };
        if (family == AddressFamily.Unknown)
        {
            return null;
        }

        var address = new SocketAddress(family, native.Length);
        native.CopyTo(address.Buffer.Span);
        return (IPEndPoint)Template.Create(address);
    }
}
