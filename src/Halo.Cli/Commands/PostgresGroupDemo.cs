using System.Globalization;
using System.Net;
using Halo.Client;
using Halo.Core.Failover;
using Halo.Gateway.Tcp;
using Halo.Server.Security;

namespace Halo.Cli.Commands;

/// <summary>
/// A three-member PostgreSQL 15 group for `halo up --postgres`: one `halo agent --driver postgres` per member running its own
/// server (managed mode: the first created by initdb, the others by pg_basebackup), synchronous replication in preferred
/// mode, and a TCP proxy to the primary. Returns null when PostgreSQL is not installed. Dispose stops agents and servers.
/// </summary>
internal sealed class PostgresGroupDemo : IAsyncDisposable
{
    private readonly List<ChildProcess> _agents;

    private PostgresGroupDemo(List<ChildProcess> agents, TcpProxyHost proxy, string group, string secrets)
    {
        _agents = agents;
        Proxy = proxy;
        Group = group;
        SecretsFile = secrets;
    }

    public string Group { get; }
    public TcpProxyHost Proxy { get; }
    public string SecretsFile { get; }

    /// <summary>How to reach the primary with psql.</summary>
    public string PsqlLine => $"PGPASSWORD=$(sed -n 's/^superuser=//p' {SecretsFile}) psql -h 127.0.0.1 -p {Proxy.LocalEndpoint.Port} -U postgres";

    public static async Task<PostgresGroupDemo?> StartAsync(
        UpAccess access, string dataDirectory, string group = "pg", int members = 3, int proxyPort = 5440, string bin = "/usr/lib/postgresql/15/bin",
        CancellationToken ct = default)
    {
        if (!File.Exists(Path.Combine(bin, "postgres")))
        {
            return null;
        }

        using (var client = new GroupClient(access.Client(await access.IssueAsync("up-operator-" + group, HaloRole.Operate, groups: [group], ct: ct))))
        {
            await client.PutAsync(group, new GroupPolicy { Synchronous = SynchronousMode.Preferred }, ct);
        }

        var secrets = Path.Combine(dataDirectory, $"{group}.secrets");
        var agents = new List<ChildProcess>();
        for (var i = 1; i <= members; i++)
        {
            // Each agent's token is bound to its own member (docs/security.md).
            var token = await access.IssueAsync($"up-agent-{group}-{i}", HaloRole.Register, member: $"{group}/{group}-{i}", ct: ct);
            agents.Add(ChildProcess.StartHaloUntil($"agent {group}-{i}", "halo agent", ["agent", "--server", access.ServerList, "--group", group, "--member", $"{group}-{i}",
                "--driver", "postgres", "--postgres-bin", bin, "--postgres-data", Path.Combine(dataDirectory, $"{group}-{i}"),
                "--postgres-port", RedisGroupDemo.FreePort().ToString(CultureInfo.InvariantCulture), "--postgres-secrets", secrets, .. UpAccess.Flag(token)]));
        }

        try
        {
            foreach (var agent in agents)
            {
                await agent.WaitReadyAsync(TimeSpan.FromSeconds(30), ct);
            }

            var proxyToken = await access.IssueAsync("up-proxy-" + group, HaloRole.Read, groups: [group], ct: ct);
            var proxy = TcpProxyHost.Start(new TcpProxyOptions { Client = access.Client(proxyToken), Group = group, Listen = new IPEndPoint(IPAddress.Loopback, proxyPort) });
            return new PostgresGroupDemo(agents, proxy, group, secrets);
        }
        catch
        {
            foreach (var agent in agents)
            {
                await agent.DisposeAsync();
            }

            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Agents first: a kill is instant, the proxy's graceful stop is not (Ctrl+C grace).
        foreach (var agent in _agents)
        {
            await agent.DisposeAsync();
        }

        await Proxy.DisposeAsync();
    }
}
