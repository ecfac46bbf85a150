using System.Net;
using Halo.Client;
using Halo.Core.Failover;
using Halo.Gateway.Tcp;
using Halo.Server.Security;

namespace Halo.Cli.Commands;

/// <summary>
/// A Redis primary/replica group for `halo up`: one `halo agent` per member running its own redis-server (managed mode),
/// a group policy on the server, and a TCP proxy to the primary. Returns null when redis-server is not installed.
/// Dispose stops the agents (which stop their redis-servers) and the proxy.
/// </summary>
internal sealed class RedisGroupDemo : IAsyncDisposable
{
    private readonly List<ChildProcess> _agents;

    private RedisGroupDemo(List<ChildProcess> agents, TcpProxyHost proxy, string group)
    {
        _agents = agents;
        Proxy = proxy;
        Group = group;
    }

    public string Group { get; }
    public TcpProxyHost Proxy { get; }
    /// <summary>Where clients connect (redis-cli -p ...): always the current primary.</summary>
    public IPEndPoint ProxyAddress => Proxy.LocalEndpoint;

    public static async Task<RedisGroupDemo?> StartAsync(
        UpAccess access, string dataDirectory, string group = "cache", int members = 3, int proxyPort = 6400, string redisServer = "/usr/bin/redis-server",
        CancellationToken ct = default)
    {
        if (!File.Exists(redisServer))
        {
            return null;
        }

        using (var client = new GroupClient(access.Client(await access.IssueAsync("up-operator", HaloRole.Operate, groups: [group], ct: ct))))
        {
            await client.PutAsync(group, new GroupPolicy(), ct);
        }

        var agents = new List<ChildProcess>();
        for (var i = 1; i <= members; i++)
        {
            var port = FreePort();
            // Each agent's token is bound to its own member: it cannot report for another one (docs/security.md).
            var token = await access.IssueAsync($"up-agent-{group}-{i}", HaloRole.Register, member: $"{group}/{group}-{i}", ct: ct);
            agents.Add(ChildProcess.StartHaloUntil($"agent {group}-{i}", "halo agent", ["agent", "--server", access.ServerList, "--group", group, "--member", $"{group}-{i}",
                "--redis-server", redisServer, "--redis-port", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--redis-dir", Path.Combine(dataDirectory, $"redis-{group}-{i}"), .. UpAccess.Flag(token)]));
        }

        try
        {
            foreach (var agent in agents)
            {
                await agent.WaitReadyAsync(TimeSpan.FromSeconds(30), ct);
            }

            var proxyToken = await access.IssueAsync("up-proxy", HaloRole.Read, groups: [group], ct: ct);
            var proxy = TcpProxyHost.Start(new TcpProxyOptions { Client = access.Client(proxyToken), Group = group, Listen = new IPEndPoint(IPAddress.Loopback, proxyPort) });
            return new RedisGroupDemo(agents, proxy, group);
        }
        catch
        {
            // A half-started group (busy proxy port, an agent that did not come up) stops what it started.
            foreach (var agent in agents)
            {
                await agent.DisposeAsync();
            }

            throw;
        }
    }

    /// <summary>A free 127.0.0.1 port for a demo database (bind 0, read back).</summary>
    internal static int FreePort()
    {
        var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    public async ValueTask DisposeAsync()
    {
        // Agents (and the redis-servers they run) first: a kill is instant, the proxy's graceful stop is not.
        foreach (var agent in _agents)
        {
            await agent.DisposeAsync();
        }

        await Proxy.DisposeAsync();
    }
}
