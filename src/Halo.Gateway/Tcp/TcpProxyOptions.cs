using System.Net;
using Halo.Client;

namespace Halo.Gateway.Tcp;

/// <summary>A TCP listener bound to one group and role.</summary>
public sealed record TcpProxyOptions
{
    /// <summary>Where to listen. Default 127.0.0.1, any free port.</summary>
    public IPEndPoint Listen { get; init; } = new(IPAddress.Loopback, 0);

    /// <summary>How to reach the control plane (servers, token, TLS). Required unless <see cref="Server"/> is set.</summary>
    public HaloClientOptions? Client { get; init; }

    /// <summary>Shorthand for <see cref="Client"/> with this one server and no token.</summary>
    public Uri? Server { get; init; }

    public required string Group { get; init; }

    /// <summary>
    /// "primary" (the current primary of the highest epoch seen) or "replica" (read traffic, round-robin over healthy replicas
    /// within <see cref="MaxLagBytes"/>; "replicas" is accepted as the same).
    /// </summary>
    public string Role { get; init; } = "primary";

    /// <summary>Replica role: a replica further behind the primary than this gets no new connections. Default: the group's maxLagBytes.</summary>
    public long? MaxLagBytes { get; init; }

    public bool ReadsFromReplicas => Role is "replica" or "replicas";

    /// <summary>How long a new connection waits for a confirmed primary before it is closed. Default 5 s.</summary>
    public TimeSpan WaitForRoute { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Connect timeout to the database. Default 1 s.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(1);
}

/// <summary>Where new connections go, swapped whole when the group changes.</summary>
public sealed record TcpRoute(long Epoch, string? Primary, bool Confirmed, IReadOnlyList<string> Replicas)
{
    public static readonly TcpRoute None = new(0, null, false, []);
}
