using System.Net;
using System.Net.Sockets;

namespace Halo.Agent.Tests;

/// <summary>Free loopback ports for the databases these tests start (bind 0, read it back; never a fixed port).</summary>
internal static class FreePorts
{
    public static int Next()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}
