using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace Halo.Server.Security;

/// <summary>
/// The networks server-run checks may reach (docs/security.md, "Server-run checks"), so a registration cannot make the
/// server probe a cloud metadata address or an internal host. Judged twice: at registration (the address, or every address
/// a name resolves to) and at every connect (the address actually dialled), so a name that later resolves elsewhere
/// (DNS rebinding) still cannot reach a refused network.
/// </summary>
internal sealed class CheckNetworkPolicy
{
    /// <summary>The config key the refusals name.</summary>
    public const string Key = "server.checks.allowedNetworks";

    private static readonly IPNetwork[] Loopback = [new(IPAddress.Parse("127.0.0.0"), 8), new(IPAddress.IPv6Loopback, 128)];

    private readonly IReadOnlyList<IPNetwork> _allowed;
    private readonly Func<string, CancellationToken, Task<IPAddress[]>> _resolve;

    public CheckNetworkPolicy(SecurityOptions security, ServerOptions server)
        : this(security, server, Dns.GetHostAddressesAsync)
    {
    }

    public CheckNetworkPolicy(SecurityOptions security, ServerOptions server, Func<string, CancellationToken, Task<IPAddress[]>> resolve)
    {
        _allowed = security.AllowedCheckNetworks is { } configured ? Parse(configured) : Defaults(server.Listen);
        _resolve = resolve;
    }

    /// <summary>The allowed networks, for messages and the start-up log.</summary>
    public string Describe() => _allowed.Count == 0 ? "none" : string.Join(", ", _allowed);

    /// <summary>Parses CIDR networks (a bare address is one host); a bad entry throws naming <see cref="Key"/>.</summary>
    public static IReadOnlyList<IPNetwork> Parse(IEnumerable<string> networks)
    {
        var parsed = new List<IPNetwork>();
        foreach (var text in networks)
        {
            if (Halo.Core.Networking.Networks.TryParse(text, out var network))
            {
                parsed.Add(network);
            }
            else
            {
                throw new ArgumentException($"{Key}: '{text}' is not a network (expected CIDR such as 10.0.0.0/8 or fd00::/8, or one address)");
            }
        }

        return parsed;
    }

    public bool Allows(IPAddress address)
    {
        address = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        foreach (var network in _allowed)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Why a check of <paramref name="host"/> is refused (it, or an address it resolves to, is outside), or null.</summary>
    public async Task<string?> RefusalAsync(string host, CancellationToken cancellationToken)
    {
        IPAddress[] addresses;
        try
        {
            addresses = await ResolveAsync(host, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException ex)
        {
            return $"{host} does not resolve ({ex.SocketErrorCode}); a server-run check needs an address in {Key} ({Describe()})";
        }

        if (addresses.Length == 0)
        {
            return $"{host} does not resolve; a server-run check needs an address in {Key} ({Describe()})";
        }

        return addresses.FirstOrDefault(a => !Allows(a)) is { } refused
            ? $"the server will not run a check against {(refused.ToString() == host ? host : $"{host} ({refused})")}: it is outside {Key} ({Describe()})"
            : null;
    }

    /// <summary>
    /// Connects to <paramref name="host"/> on one of its allowed addresses; throws <see cref="CheckRefusedException"/>
    /// when it has none. The check HttpClient's ConnectCallback and the TCP check both dial through here.
    /// </summary>
    public async Task<Socket> ConnectAsync(string host, int port, CancellationToken cancellationToken)
    {
        var addresses = await ResolveAsync(host, cancellationToken).ConfigureAwait(false);
        var allowed = addresses.Where(Allows).ToArray();
        if (allowed.Length == 0)
        {
            throw new CheckRefusedException(
                $"{host} ({string.Join(", ", addresses.Select(a => a.ToString()))}) is outside {Key} ({Describe()}); not connected");
        }

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(allowed, port, cancellationToken).ConfigureAwait(false);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private async Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken) =>
        IPAddress.TryParse(host.Trim('[', ']'), out var literal)
            ? [literal.IsIPv4MappedToIPv6 ? literal.MapToIPv4() : literal]
            : (await _resolve(host, cancellationToken).ConfigureAwait(false)).Select(a => a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a).ToArray();

    /// <summary>
    /// Loopback plus the networks the server listens on: a specific address gives the network of the interface holding it,
    /// 0.0.0.0 or :: every interface's network. Link-local networks (169.254.0.0/16 with the cloud metadata address,
    /// fe80::/10) are never in the default.
    /// </summary>
    private static IReadOnlyList<IPNetwork> Defaults(string listen)
    {
        var networks = new List<IPNetwork>(Loopback);
        if (!Uri.TryCreate(listen, UriKind.Absolute, out var uri) || uri.Host == "localhost")
        {
            return networks;
        }

        var host = uri.Host.Trim('[', ']');
        IPAddress[] listening;
        try
        {
            listening = IPAddress.TryParse(host, out var ip) ? [ip] : Dns.GetHostAddresses(host);
        }
        catch (SocketException)
        {
            return networks;
        }

        var wildcard = listening.Any(a => a.Equals(IPAddress.Any) || a.Equals(IPAddress.IPv6Any));
        foreach (var address in listening.Where(a => !IPAddress.IsLoopback(a) && !a.Equals(IPAddress.Any) && !a.Equals(IPAddress.IPv6Any)))
        {
            networks.Add(new IPNetwork(address, address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128));
        }

        foreach (var unicast in InterfaceAddresses())
        {
            if (IsLinkLocal(unicast.Address) || IPAddress.IsLoopback(unicast.Address))
            {
                continue;
            }

            if (wildcard || listening.Any(a => a.Equals(unicast.Address)))
            {
                networks.Add(new IPNetwork(Masked(unicast.Address, unicast.PrefixLength), unicast.PrefixLength));
            }
        }

        return networks.Distinct().ToArray();
    }

    private static IEnumerable<UnicastIPAddressInformation> InterfaceAddresses()
    {
        try
        {
            return NetworkInterface.GetAllNetworkInterfaces()
                .Where(n => n.OperationalStatus == OperationalStatus.Up)
                .SelectMany(n => n.GetIPProperties().UnicastAddresses)
                .ToArray();
        }
        catch (NetworkInformationException)
        {
            return [];
        }
    }

    private static bool IsLinkLocal(IPAddress address) =>
        address.IsIPv6LinkLocal || address.AddressFamily == AddressFamily.InterNetwork && address.GetAddressBytes() is [169, 254, ..];

    private static IPAddress Masked(IPAddress address, int prefix)
    {
        var bytes = address.GetAddressBytes();
        for (var i = 0; i < bytes.Length; i++)
        {
            var keep = Math.Clamp(prefix - (i * 8), 0, 8);
            bytes[i] &= (byte)(0xFF << (8 - keep));
        }

        return new IPAddress(bytes);
    }
}

/// <summary>A server-run check's target is outside <see cref="CheckNetworkPolicy.Key"/>: the server did not connect.</summary>
internal sealed class CheckRefusedException(string message) : IOException(message);
