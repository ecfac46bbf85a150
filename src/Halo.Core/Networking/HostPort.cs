using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;

namespace Halo.Core.Networking;

/// <summary>
/// A <c>host:port</c> pair as Halo's flags, config files and member reports write it: <c>127.0.0.1:6379</c>,
/// <c>db-1:5432</c> or <c>[::1]:7400</c> (an IPv6 host in brackets). The one parser every part uses.
/// </summary>
/// <param name="Host">IP address (IPv6 without brackets) or DNS name.</param>
/// <param name="Port">1–65535.</param>
public readonly record struct HostPort(string Host, int Port)
{
    /// <summary>What a valid value looks like, for error messages.</summary>
    public const string Rule = "must be host:port (IPv6 as [::1]:port) with a port between 1 and 65535";

    /// <summary>Parses <paramref name="text"/>; false for a missing or bad host or a port outside 1–65535.</summary>
    /// <param name="text">The text to parse.</param>
    /// <param name="value">The pair, when valid.</param>
    /// <param name="anyPort">Also accept port 0 ("any free port"), for listen addresses.</param>
    public static bool TryParse([NotNullWhen(true)] string? text, out HostPort value, bool anyPort = false)
    {
        value = default;
        if (string.IsNullOrWhiteSpace(text) || text.Trim() != text)
        {
            return false;
        }

        var colon = text.LastIndexOf(':');
        if (colon <= 0 || colon == text.Length - 1)
        {
            return false;
        }

        var host = text[..colon];
        if (!int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535 || (port == 0 && !anyPort))
        {
            return false;
        }

        if (host.StartsWith('['))
        {
            // Brackets are only for IPv6, so that its colons are not read as the port separator.
            if (!host.EndsWith(']') || !IPAddress.TryParse(host[1..^1], out var v6) || v6.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
            {
                return false;
            }

            host = host[1..^1];
        }
        else if (host.Contains(':', StringComparison.Ordinal))
        {
            return false; // an unbracketed IPv6 address is ambiguous: "::1:80"
        }
        else if (!IPAddress.TryParse(host, out _) && Uri.CheckHostName(host) != UriHostNameType.Dns)
        {
            return false;
        }

        value = new HostPort(host, port);
        return true;
    }

    /// <summary>Parses <paramref name="text"/> or throws <see cref="FormatException"/> naming <paramref name="field"/>.</summary>
    public static HostPort Parse(string? text, string field, bool anyPort = false) =>
        TryParse(text, out var value, anyPort) ? value : throw new FormatException($"{field}: '{text}' {Rule}");

    /// <summary>The host as an IP address, when it is one.</summary>
    public IPAddress? Address => IPAddress.TryParse(Host, out var ip) ? ip : null;

    /// <summary>Formats back to <c>host:port</c>, bracketing an IPv6 host.</summary>
    public override string ToString() =>
        Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port.ToString(CultureInfo.InvariantCulture)}" : $"{Host}:{Port.ToString(CultureInfo.InvariantCulture)}";
}
