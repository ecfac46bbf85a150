using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Halo.Agent.Drivers;
using Halo.Core.Failover;
using Halo.IntegrationTests.Failover;

namespace Halo.IntegrationTests.Postgres;

/// <summary>
/// Bad input to a managed PostgreSQL member (issue 11): a wrong data directory, a port in use, a missing binary. Each gives one
/// line naming the flag and a non-zero exit — no crash loop — and nothing in a data directory is touched.
/// </summary>
public sealed class PostgresBadInputTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);
    private readonly string _dir = HaloProcess.TempDirectory("pg-badinput");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Secrets => Path.Combine(_dir, "secrets");

    /// <summary>`halo agent --driver postgres` in managed mode; no server listens at --server (the checks come first).</summary>
    private async Task<(int ExitCode, string Output, TimeSpan Took)> AgentAsync(string bin, string data, int port)
    {
        var sw = Stopwatch.StartNew();
        var (code, output) = await HaloProcess.RunAsync(Bound, "agent", "--server", $"http://127.0.0.1:{HaloProcess.FreePort()}", "--group", "pg", "--member", "m1",
            "--driver", "postgres", "--postgres-bin", bin, "--postgres-data", data, "--postgres-port", port.ToString(), "--postgres-secrets", Secrets);
        return (code, output, sw.Elapsed);
    }

    /// <summary>Exactly one line of output, the reason, naming the flag.</summary>
    private static void AssertOneLineReason(int code, string output, string flag, string reason)
    {
        Assert.True(code != 0, output);
        var line = Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"halo: {flag} ", line, StringComparison.Ordinal);
        Assert.Contains(reason, line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Agent_DataDirectoryNotPostgres_RefusesInOneLineAndLeavesItsFiles()
    {
        var data = Path.Combine(_dir, "photos");
        Directory.CreateDirectory(data);
        await File.WriteAllTextAsync(Path.Combine(data, "holiday.jpg"), "not a database");

        var (code, output, _) = await AgentAsync(PostgresCluster.Bin, data, HaloProcess.FreePort());

        AssertOneLineReason(code, output, "--postgres-data", "not a PostgreSQL data directory");
        Assert.Equal(["holiday.jpg"], Directory.EnumerateFileSystemEntries(data).Select(Path.GetFileName));
        Assert.Equal("not a database", await File.ReadAllTextAsync(Path.Combine(data, "holiday.jpg")));
    }

    [Fact]
    public async Task Agent_DataDirectoryOfAnotherMajorVersion_RefusesInOneLineAndLeavesIt()
    {
        var data = Path.Combine(_dir, "pg14");
        Directory.CreateDirectory(data);
        await File.WriteAllTextAsync(Path.Combine(data, "PG_VERSION"), "14\n");

        var (code, output, _) = await AgentAsync(PostgresCluster.Bin, data, HaloProcess.FreePort());

        AssertOneLineReason(code, output, "--postgres-data", "a PostgreSQL 14 data directory, but --postgres-bin is PostgreSQL 15");
        Assert.Equal("14\n", await File.ReadAllTextAsync(Path.Combine(data, "PG_VERSION")));
    }

    [Fact]
    public async Task Agent_PortInUse_RefusesInOneLine()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;

        var (code, output, _) = await AgentAsync(PostgresCluster.Bin, Path.Combine(_dir, "data"), port);

        AssertOneLineReason(code, output, "--postgres-port", "is another server using it?");
        Assert.False(Directory.Exists(Path.Combine(_dir, "data")));
    }

    [Fact]
    public async Task Agent_MissingPostgresBinary_RefusesInOneLine()
    {
        var bin = Path.Combine(_dir, "bin");
        Directory.CreateDirectory(bin);

        var (code, output, _) = await AgentAsync(bin, Path.Combine(_dir, "data"), HaloProcess.FreePort());

        AssertOneLineReason(code, output, "--postgres-bin", "no postgres there");
        Assert.False(Directory.Exists(Path.Combine(_dir, "data")));
    }

    /// <summary>
    /// A former primary told to follow a new primary that cannot be reached (down, restarting) keeps its data directory: the
    /// rejoin is postponed, not turned into a replacement (which, when the copy failed too, once left a member empty).
    /// </summary>
    [Fact]
    public async Task Rejoin_NewPrimaryUnreachable_PostponedAndDataDirectoryKept()
    {
        var options = new ManagedPostgresOptions
        {
            BinDirectory = PostgresCluster.Bin, DataDirectory = Path.Combine(_dir, "data"), Port = HaloProcess.FreePort(), Member = "m1", SecretsFile = Secrets,
        };
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using (var primary = new ManagedPostgres(options, TimeProvider.System, new RecordingLogger("m1", log)))
        {
            await Eventually.UntilAsync(() => primary.EnsureRunningAsync(MemberRole.Primary, null, null, default), Bound, "its own primary");
        }

        using var closed = new TcpListener(IPAddress.Loopback, 0);
        closed.Start();
        var nobody = ((IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop(); // a port nothing listens on
        await using var rejoining = new ManagedPostgres(options, TimeProvider.System, new RecordingLogger("m1", log));
        var error = await Assert.ThrowsAsync<InvalidOperationException>(async () =>
        {
            var sw = Stopwatch.StartNew();
            while (sw.Elapsed < Bound)
            {
                await rejoining.EnsureRunningAsync(MemberRole.Replica, "127.0.0.1", nobody, default);
                await Task.Delay(50);
            }
        });

        Assert.Contains("postponed, data directory kept", error.Message, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(options.DataDirectory, "PG_VERSION")));
        Assert.Empty(Directory.GetDirectories(_dir, "data.replaced-*"));
        Assert.DoesNotContain(log, l => l.Contains("replacing", StringComparison.Ordinal));
    }

    /// <summary>
    /// The port is free when the agent checks it and taken by the time postgres binds it: the start fails with one line naming
    /// the port, a setup failure (the agent exits on it) rather than a restart repeated every few seconds; the new database stays.
    /// </summary>
    [Fact]
    public async Task EnsureRunning_PortTakenAfterTheCheck_SetupFailureNamingThePortAndDataKept()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var options = new ManagedPostgresOptions
        {
            BinDirectory = PostgresCluster.Bin, DataDirectory = Path.Combine(_dir, "data"), Port = ((IPEndPoint)taken.LocalEndpoint).Port, Member = "m1", SecretsFile = Secrets,
        };
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var managed = new ManagedPostgres(options, TimeProvider.System, new RecordingLogger("m1", log));

        var error = await Assert.ThrowsAsync<DatabaseSetupException>(async () =>
        {
            var sw = Stopwatch.StartNew();
            while (sw.Elapsed < Bound)
            {
                await managed.EnsureRunningAsync(MemberRole.Primary, null, null, default);
                await Task.Delay(50);
            }
        });

        Assert.StartsWith($"--postgres-port {options.Port}: already in use", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
        Assert.True(File.Exists(Path.Combine(options.DataDirectory, "PG_VERSION")), "initdb's database was removed");
        Assert.False(managed.Running);
    }
}
