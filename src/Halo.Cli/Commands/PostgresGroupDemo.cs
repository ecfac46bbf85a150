using System.Globalization;
using System.Net;
using Halo.Client;
using Halo.Core.Failover;
using Halo.Gateway.Tcp;

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
        Uri server, string dataDirectory, string group = "pg", int members = 3, int proxyPort = 5440, string bin = "/usr/lib/postgresql/15/bin",
        CancellationToken ct = default)
    {
        if (!File.Exists(Path.Combine(bin, "postgres")))
        {
            return null;
        }

        using (var client = new GroupClient(server))
        {
            await client.PutAsync(group, new GroupPolicy { Synchronous = SynchronousMode.Preferred }, ct);
        }

        var secrets = Path.Combine(dataDirectory, $"{group}.secrets");
        var agents = new List<ChildProcess>();
        for (var i = 1; i <= members; i++)
        {
            agents.Add(ChildProcess.StartHaloUntil($"agent {group}-{i}", "halo agent", "agent", "--server", server.ToString(), "--group", group, "--member", $"{group}-{i}",
                "--driver", "postgres", "--postgres-bin", bin, "--postgres-data", Path.Combine(dataDirectory, $"{group}-{i}"),
                "--postgres-port", RedisGroupDemo.FreePort().ToString(CultureInfo.InvariantCulture), "--postgres-secrets", secrets));
        }

        try
        {
            foreach (var agent in agents)
            {
                await agent.WaitReadyAsync(TimeSpan.FromSeconds(30), ct);
            }

            var proxy = TcpProxyHost.Start(new TcpProxyOptions { Server = server, Group = group, Listen = new IPEndPoint(IPAddress.Loopback, proxyPort) });
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
        await Proxy.DisposeAsync();
        foreach (var agent in _agents)
        {
            await agent.DisposeAsync();
        }
    }
}
