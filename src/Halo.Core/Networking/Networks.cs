using System.Net;
using System.Net.Sockets;

namespace Halo.Core.Networking;

/// <summary>IP networks as operators write them in config files: CIDR (10.0.0.0/8, fd00::/8) or one address.</summary>
public static class Networks
{
    /// <summary>A CIDR network with no host bits set, or a bare address as a one-host network (/32, /128).</summary>
    public static bool TryParse(string? text, out IPNetwork network)
    {
        text = text?.Trim() ?? string.Empty;
        if (IPNetwork.TryParse(text, out network))
        {
            return true;
        }

        if (!text.Contains('/', StringComparison.Ordinal) && IPAddress.TryParse(text, out var address))
        {
            network = new IPNetwork(address, address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128);
            return true;
        }

        return false;
    }
}
