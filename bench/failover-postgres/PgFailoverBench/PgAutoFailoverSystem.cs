using System.Diagnostics;
using System.Globalization;
using Halo.Bench.Shared;
using Npgsql;

namespace PgFailoverBench;

/// <summary>
/// pg_auto_failover 2.0 (Debian postgresql-15-auto-failover): one monitor and three `pg_autoctl` keepers as the postgres user,
/// at its documented default timing (monitor: health_check_period 5 s, node_considered_unhealthy_timeout 20 s; keeper:
/// network_partition_timeout 20 s), `--auth trust` on loopback, replication quorum on (number_sync_standbys 0, so the
/// primary waits for ANY 1 of its two standbys: no committed write lost). The client uses a multi-host string with
/// target_session_attrs=read-write, as `pg_autoctl show uri` gives.
/// </summary>
internal sealed class PgAutoFailoverSystem(BenchProcesses procs, string work) : SystemUnderTest(procs, work)
{
    private readonly int _monitor = BenchProcesses.FreePort();
    private readonly Process?[] _keepers = new Process?[3];
    private readonly bool[] _created = new bool[3];
    public override string Name => "pg_auto_failover";
    public override string Connection => MultiHost("postgres", "unused");
    private string MonitorUri => $"postgres://autoctl_node@127.0.0.1:{_monitor}/pg_auto_failover?sslmode=disable";

    public override async Task StartAsync()
    {
        await BenchProcesses.RunAsync("/usr/bin/chown", "postgres:postgres", Work);
        PgAutoCtl("create", "monitor", "--pgdata", Path.Combine(Work, "monitor"), "--pgport", Port(_monitor), "--hostname", "127.0.0.1",
            "--auth", "trust", "--no-ssl", "--pgctl", "/usr/lib/postgresql/15/bin/pg_ctl", "--run");
        await BenchProcesses.WaitAsync(async () => (await NodesAsync()) is not null, TimeSpan.FromSeconds(90), "the pg_auto_failover monitor");
        for (var i = 0; i < 3; i++)
        {
            RestartNode(i);
            var name = $"n{i + 1}";
            // One node registers at a time: the first becomes single, each next one a secondary.
            await BenchProcesses.WaitAsync(async () => (await NodesAsync()).Any(n => n.Name == name && n.Reported == n.Assigned && n.Reported is "single" or "secondary"),
                TimeSpan.FromSeconds(120), $"pg_auto_failover node {name}");
        }
    }

    public override void RestartNode(int i)
    {
        var data = DataDir(i);
        _keepers[i] = _created[i]
            ? PgAutoCtl("run", "--pgdata", data)
            : PgAutoCtl("create", "postgres", "--pgdata", data, "--pgport", Port(PgPorts[i]), "--pghost", "127.0.0.1", "--listen", "127.0.0.1",
                "--hostname", "127.0.0.1", "--name", $"n{i + 1}", "--monitor", MonitorUri, "--auth", "trust", "--no-ssl",
                "--pgctl", "/usr/lib/postgresql/15/bin/pg_ctl", "--run");
        _created[i] = true;
    }

    public override void KillNode(int i)
    {
        var postmaster = PostmasterPid(i);
        BenchProcesses.Kill9(postmaster);
        // The keeper is a supervisor with service children (node-active, the postgres controller): all die with the node.
        _keepers[i]!.Kill(entireProcessTree: true);
    }

    public override async Task<bool> SettledAsync()
    {
        var nodes = await NodesAsync();
        return nodes.Count == 3 && nodes.All(n => n.Reported == n.Assigned) && nodes.Count(n => n.Reported == "primary") == 1 &&
               nodes.Count(n => n.Reported == "secondary") == 2;
    }

    public override async Task<int> PrimaryAsync()
    {
        var primary = (await NodesAsync()).Single(n => n.Reported == n.Assigned && n.Reported is "primary" or "wait_primary" or "single");
        return int.Parse(primary.Name[1..], CultureInfo.InvariantCulture) - 1;
    }

    public override async Task<bool> StreamingAsync(int i) =>
        (await NodesAsync()).Any(n => n.Name == $"n{i + 1}" && n.Reported == "secondary" && n.Assigned == "secondary");

    /// <summary>
    /// Its keeper restarts a crashed postmaster in place (postgresql_restart_failure_timeout 20 s) and the node usually stays the
    /// primary, so "streaming as a standby" is not the end condition here: the killed node is back when it serves again in the role
    /// the monitor gives it (reported = assigned, primary or secondary) and the server agrees (pg_is_in_recovery).
    /// </summary>
    public override async Task<bool> BackAfterPostmasterCrashAsync(int i)
    {
        var node = (await NodesAsync()).Single(n => n.Name == $"n{i + 1}");
        if (node.Reported != node.Assigned || node.Reported is not ("primary" or "secondary"))
        {
            return false;
        }

        await using var conn = new NpgsqlConnection($"Host=127.0.0.1;Port={PgPorts[i]};Username=postgres;Database=postgres;Timeout=2;Pooling=false");
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT pg_is_in_recovery()", conn);
        return (bool)(await cmd.ExecuteScalarAsync())! == (node.Reported == "secondary");
    }

    private async Task<List<(string Name, string Reported, string Assigned)>> NodesAsync()
    {
        await using var conn = new NpgsqlConnection($"Host=127.0.0.1;Port={_monitor};Username=autoctl_node;Database=pg_auto_failover;Timeout=2;Pooling=false");
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT nodename, reportedstate::text, goalstate::text FROM pgautofailover.node", conn);
        await using var reader = await cmd.ExecuteReaderAsync();
        var nodes = new List<(string, string, string)>();
        while (await reader.ReadAsync())
        {
            nodes.Add((reader.GetString(0), reader.GetString(1), reader.GetString(2)));
        }

        return nodes;
    }

    private Process PgAutoCtl(params string[] args) => P.Start("/usr/bin/setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", "--",
        "/usr/bin/env", $"XDG_CONFIG_HOME={Work}/xdg-config", $"XDG_DATA_HOME={Work}/xdg-data", $"XDG_RUNTIME_DIR={Work}/xdg-run", $"HOME={Work}",
        "/usr/bin/pg_autoctl", .. args]);

    private static string Port(int port) => port.ToString(CultureInfo.InvariantCulture);
}
