using Halo.Core;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Halo.Core.Failover;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Halo.Agent.Drivers;

/// <summary>
/// A PostgreSQL server the agent runs itself, as Patroni does: the first member of a group is created with initdb (when the
/// controller elects it to bootstrap), the others with pg_basebackup from the primary; it is always started fenced
/// (default_transaction_read_only) and, when a primary is known, as its standby. A former primary rejoins with pg_rewind, and
/// only if that fails is its data directory replaced by a fresh copy — moved aside, never deleted, and said so in the log.
/// </summary>
public sealed class ManagedPostgres(ManagedPostgresOptions options, TimeProvider time, ILogger logger) : IManagedDatabase
{
    private readonly ConcurrentQueue<string> _log = new();
    private Process? _process;
    private int _lastPgid;
    private PostgresSecrets? _secrets;
    private Task<bool>? _work;
    private int _failures;
    private long _retryAt;

    public ManagedPostgresOptions Options => options;
    public bool Started => _process is not null;
    public bool Running => _process is { HasExited: false };
    public int Restarts { get; private set; }
    public int? Pid => _process is { HasExited: false } p ? p.Id : null;

    /// <summary>No data directory yet: the member can be initialised (if elected the first primary) or copied from the primary.</summary>
    public bool Empty => !Directory.Exists(options.DataDirectory) || !Directory.EnumerateFileSystemEntries(options.DataDirectory).Any();

    /// <summary>The server reported a history it cannot follow (it holds WAL the primary does not): it must be rewound.</summary>
    public bool Diverged { get; private set; }

    /// <summary>The last FATAL or PANIC line the server wrote (e.g. a standby that cannot authenticate), cleared when it streams.</summary>
    public string? LastError { get; private set; }

    public IReadOnlyCollection<string> RecentLog => _log;

    public PostgresSecrets Secrets => _secrets ??= PostgresSecrets.Load(options.SecretsFile);

    /// <summary>What the agent is doing to the server right now (initdb, pg_basebackup, pg_rewind, start), or null.</summary>
    public string? Activity { get; private set; }

    /// <summary>
    /// Starts the server unless it runs. The work (initdb, pg_basebackup, pg_rewind, crash recovery) can take seconds, so it runs in
    /// the background while the agent keeps reporting (a bootstrapping primary keeps its lease); returns true on the call after it
    /// finished, and rethrows its failure there.
    /// </summary>
    public async Task<bool> EnsureRunningAsync(MemberRole assigned, string? followHost, int? followPort, CancellationToken ct)
    {
        if (_work is { } work)
        {
            if (!work.IsCompleted)
            {
                return false;
            }

            _work = null;
            Activity = null;
            try
            {
                var started = await work.ConfigureAwait(false);
                _failures = 0;
                return started;
            }
            catch (Exception ex) when (ex is not DatabaseSetupException and not OperationCanceledException)
            {
                // Retried with a growing pause (1 s doubling to 30 s), never in a tight loop.
                _failures++;
                _retryAt = time.GetTimestamp() + (long)(Math.Min(30, Math.Pow(2, _failures - 1)) * time.TimestampFrequency);
                LastError = ex.Message;
                throw;
            }
        }

        if (Running || time.GetTimestamp() < _retryAt || (Empty && assigned != MemberRole.Primary && followHost is null))
        {
            return false; // running, pausing after a failure, or no database yet and nothing to create it from
        }

        _work = Task.Run(() => StartOrPrepareAsync(assigned, followHost, followPort, ct), ct);
        return false;
    }

    /// <summary>Starts turning a running former primary into a standby of host:port in the background (stop, rewind, start as standby).</summary>
    public void BeginRejoin(string host, int port, CancellationToken ct)
    {
        if (_work is null)
        {
            _work = Task.Run(async () =>
            {
                await RejoinAsync(host, port, ct).ConfigureAwait(false);
                return true;
            }, ct);
        }
    }

    /// <summary>True while initdb, pg_basebackup, pg_rewind or a start is under way.</summary>
    public bool Busy => _work is not null;

    private async Task<bool> StartOrPrepareAsync(MemberRole assigned, string? followHost, int? followPort, CancellationToken ct)
    {
        await KillLeftoversAsync(ct).ConfigureAwait(false);
        if (Empty)
        {
            if (assigned == MemberRole.Primary)
            {
                await InitDbAsync(ct).ConfigureAwait(false);
            }
            else if (followHost is not null && followPort is { } fp)
            {
                await BaseBackupAsync(followHost, fp, ct).ConfigureAwait(false);
            }
            else
            {
                return false; // no database yet: wait to be elected (initdb) or told whom to copy
            }
        }
        else if (followHost is not null && followPort is { } port && (!File.Exists(Path.Combine(options.DataDirectory, "standby.signal")) || Diverged))
        {
            await RewindAsync(followHost, port, ct).ConfigureAwait(false); // a former primary: rejoin its successor's history
        }

        if (followHost is not null && followPort is { } standbyOf)
        {
            PrepareStandby(followHost, standbyOf);
        }

        if (_process is not null)
        {
            Restarts++;
            _process.Dispose();
            _process = null;
        }

        await StartAsync(ct).ConfigureAwait(false);
        return true;
    }

    /// <summary>Turns a running former primary into a standby of host:port: stop, rewind, start as standby.</summary>
    private async Task RejoinAsync(string host, int port, CancellationToken ct)
    {
        Activity = $"rejoining {host}:{port}: stopping";
        await StopAsync(ct).ConfigureAwait(false);
        await RewindAsync(host, port, ct).ConfigureAwait(false);
        PrepareStandby(host, port);
        await StartAsync(ct).ConfigureAwait(false);
    }

    /// <summary>kill -9 of the postmaster only, as a crash would (drills); its children notice and exit.</summary>
    public bool Kill()
    {
        if (_process is not { HasExited: false } p)
        {
            return false;
        }

        p.Kill();
        return true;
    }

    private async Task InitDbAsync(CancellationToken ct)
    {
        var secrets = _secrets = PostgresSecrets.LoadOrCreate(options.SecretsFile);
        await PostgresProcess.CreateDirectoryAsync(options.DataDirectory, ct).ConfigureAwait(false);
        Activity = "initialising (initdb)";
        PostgresLog.InitDb(logger, options.Member, options.DataDirectory);
        await RequireAsync("initdb", ["-D", options.DataDirectory, "-U", PostgresSecrets.SuperuserName, "-A", "trust", "-E", "UTF8", "--no-instructions"], TimeSpan.FromMinutes(2), ct).ConfigureAwait(false);
        File.AppendAllText(Path.Combine(options.DataDirectory, "postgresql.conf"), PostgresConfig.Settings);
        PostgresConfig.WriteKeepingOwner(Path.Combine(options.DataDirectory, "pg_hba.conf"), PostgresConfig.Hba);
        // Passwords go in through single-user mode's stdin: never on a command line, never in a file another user could read.
        var sql = $"ALTER ROLE {PostgresSecrets.SuperuserName} PASSWORD '{Sql(secrets.Superuser)}';\n" +
                  $"CREATE ROLE {PostgresSecrets.ReplicationUser} WITH REPLICATION LOGIN PASSWORD '{Sql(secrets.Replication)}';\n";
        await RequireAsync("postgres", ["--single", "-D", options.DataDirectory, "postgres"], TimeSpan.FromMinutes(2), ct, stdin: sql).ConfigureAwait(false);
    }

    private async Task BaseBackupAsync(string host, int port, CancellationToken ct)
    {
        await PostgresProcess.CreateDirectoryAsync(options.DataDirectory, ct).ConfigureAwait(false);
        var primary = $"{host}:{port}";
        Activity = $"copying from {primary} (pg_basebackup)";
        PostgresLog.BaseBackup(logger, options.Member, primary, options.DataDirectory);
        var info = PostgresProcess.Command(options.Program("pg_basebackup"), ["-h", host, "-p", port.ToString(CultureInfo.InvariantCulture),
            "-U", PostgresSecrets.ReplicationUser, "-D", options.DataDirectory, "-X", "stream", "-c", "fast", "--no-password"]);
        info.Environment["PGPASSWORD"] = Secrets.Replication;
        info.Environment["PGCONNECT_TIMEOUT"] = "5";
        var (code, output) = await PostgresProcess.RunAsync(info, TimeSpan.FromMinutes(10), ct).ConfigureAwait(false);
        if (code != 0)
        {
            var reason = PostgresProcess.Last(output);
            throw reason.Contains("authentication failed", StringComparison.Ordinal) || reason.Contains("no pg_hba.conf entry", StringComparison.Ordinal)
                ? new DatabaseSetupException($"member {options.Member} cannot authenticate to the primary {host}:{port} as {PostgresSecrets.ReplicationUser}: {reason} (check --postgres-secrets)")
                : new InvalidOperationException($"pg_basebackup from {host}:{port} failed: {reason}");
        }
    }

    private async Task RewindAsync(string host, int port, CancellationToken ct)
    {
        string? failure = null;
        try
        {
            // The new primary's control file names its new timeline only after a checkpoint; without one pg_rewind sees the
            // old timeline, says "no rewind required", and the former primary would replay WAL its successor never had.
            var source = Connection(host, port);
            await using (var conn = new NpgsqlConnection(source))
            {
                await conn.OpenAsync(ct).ConfigureAwait(false);
                await using var checkpoint = new NpgsqlCommand("CHECKPOINT", conn);
                await checkpoint.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            Activity = $"rewinding to {host}:{port} (pg_rewind)";
            var info = PostgresProcess.Command(options.Program("pg_rewind"), ["-D", options.DataDirectory, "--source-server",
                string.Create(CultureInfo.InvariantCulture, $"host={PostgresConfig.Quote(host)} port={port} user={PostgresSecrets.SuperuserName} dbname=postgres connect_timeout=5")]);
            info.Environment["PGPASSWORD"] = Secrets.Superuser;
            var (code, output) = await PostgresProcess.RunAsync(info, TimeSpan.FromMinutes(5), ct).ConfigureAwait(false);
            if (code == 0)
            {
                var (primary, last) = ($"{host}:{port}", PostgresProcess.Last(output));
                PostgresLog.Rewound(logger, options.Member, primary, last);
                Diverged = false;
                return;
            }

            failure = PostgresProcess.Last(output);
            // The source going away during the rewind is not an impossible rewind either. Seen under stress: the new primary's
            // postmaster was killed by its fence mid-rewind, libpq's last line was "before or while processing the request.",
            // the directory was replaced and the copy failed too, leaving an empty member that blocked the next failover.
            if (LostSource(output) || !await ReachableAsync(source, ct).ConfigureAwait(false))
            {
                throw Unreachable(host, port, failure);
            }
        }
        catch (NpgsqlException ex)
        {
            throw Unreachable(host, port, ex.Message);
        }

        // Rewind is impossible (WAL gone, cluster replaced...): replace the directory with a fresh copy, keeping the old one.
        var aside = $"{options.DataDirectory.TrimEnd('/')}.replaced-{time.GetUtcNow():yyyyMMddTHHmmssfff}";
        var from = $"{host}:{port}";
        PostgresLog.Replacing(logger, options.Member, failure, options.DataDirectory, from, aside);
        Directory.Move(options.DataDirectory, aside);
        await BaseBackupAsync(host, port, ct).ConfigureAwait(false);
        Diverged = false;
    }

    /// <summary>Whether pg_rewind's output says it lost (or never had) its connection to the source.</summary>
    private static bool LostSource(string output) =>
        output.Contains("could not connect", StringComparison.Ordinal) || output.Contains("connection to server", StringComparison.Ordinal) ||
        output.Contains("server closed the connection", StringComparison.Ordinal) || output.Contains("terminated abnormally", StringComparison.Ordinal);

    /// <summary>Whether the rewind's source answers a query now (one attempt, the connection's 2 s timeout).</summary>
    private static async Task<bool> ReachableAsync(string source, CancellationToken ct)
    {
        try
        {
            await using var conn = new NpgsqlConnection(source);
            await conn.OpenAsync(ct).ConfigureAwait(false);
            await using var ping = new NpgsqlCommand("SELECT 1", conn);
            await ping.ExecuteScalarAsync(ct).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or IOException || (ex is OperationCanceledException && !ct.IsCancellationRequested))
        {
            return false;
        }
    }

    /// <summary>
    /// The new primary cannot be reached (down, restarting, starved): nothing says a rewind is impossible, so the data directory
    /// stays as it is and the rejoin is tried again after the start's growing pause. (Replacing it then, as was done, left a
    /// former primary with an empty directory when the copy failed too — seen under stress after a second failover.)
    /// </summary>
    private static InvalidOperationException Unreachable(string host, int port, string reason) =>
        new($"rejoin {host}:{port} postponed, data directory kept: cannot reach it ({reason})");

    private void PrepareStandby(string host, int port)
    {
        File.WriteAllText(Path.Combine(options.DataDirectory, "standby.signal"), "");
        PostgresConfig.SetAuto(options.DataDirectory, new Dictionary<string, string?>
        {
            ["primary_conninfo"] = PostgresConfig.PrimaryConninfo(host, port, options.Member, Secrets.Replication),
            ["synchronous_standby_names"] = null,
        });
    }

    private async Task StartAsync(CancellationToken ct)
    {
        // Always fenced from its first instant; the agent lifts the fence when this member is the primary of the epoch.
        PostgresConfig.SetAuto(options.DataDirectory, new Dictionary<string, string?> { ["default_transaction_read_only"] = "on" });
        var postgres = PostgresProcess.Command(options.Program("postgres"), ["-D", options.DataDirectory, "-c", $"port={options.Port}",
            "-c", $"listen_addresses={options.Host}", "-c", "unix_socket_directories=", "-c", $"cluster_name={options.Member}"], dieWithAgent: true);
        // Its own process group (setsid), so every backend of a dead postmaster can be found and cleared before a restart.
        var info = new ProcessStartInfo("/usr/bin/setsid") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        info.ArgumentList.Add(postgres.FileName);
        foreach (var a in postgres.ArgumentList)
        {
            info.ArgumentList.Add(a);
        }

        info.Environment["LC_ALL"] = "C";
        Diverged = false;
        LastError = null;
        Activity = "starting";
        _process?.Dispose();
        var process = await PostgresProcess.StartServerAsync(info).ConfigureAwait(false);
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        _lastPgid = process.Id;
        await WaitReadyAsync(process, ct).ConfigureAwait(false);
    }

    private async Task WaitReadyAsync(Process process, CancellationToken ct)
    {
        var started = time.GetTimestamp();
        while (true)
        {
            if (process.HasExited)
            {
                var reason = LastError ?? _log.LastOrDefault() ?? $"exited with code {process.ExitCode}";
                // The bind error is a LOG line; the FATAL that follows only says "could not create any TCP/IP sockets". A taken port
                // is not something a restart fixes, so it ends the agent with one line instead of being retried forever.
                var bind = _log.LastOrDefault(l => l.Contains("Address already in use", StringComparison.Ordinal));
                throw bind is not null
                    ? new DatabaseSetupException($"--postgres-port {options.Port}: already in use ({Message(bind)})")
                    : new InvalidOperationException($"postgres exited during start: {reason}");
            }

            try
            {
                await using var conn = new NpgsqlConnection(Connection(options.Host, options.Port));
                await conn.OpenAsync(ct).ConfigureAwait(false);
                return;
            }
            catch (NpgsqlException) when (time.GetElapsedTime(started) < options.StartTimeout)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(50), time, ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Fast shutdown (sessions ended, a checkpoint, clean for pg_rewind); immediate if that takes over 30 s.</summary>
    public async Task StopAsync(CancellationToken ct)
    {
        if (_process is not { HasExited: false } p)
        {
            return;
        }

        await PostgresProcess.SignalAsync(p.Id, "INT", ct).ConfigureAwait(false);
        using var wait = new Deadline(TimeSpan.FromSeconds(30), TimeProvider.System, ct);
        try
        {
            await p.WaitForExitAsync(wait.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            await PostgresProcess.SignalAsync(p.Id, "QUIT", ct).ConfigureAwait(false);
            await p.WaitForExitAsync(ct).ConfigureAwait(false);
        }

        await KillLeftoversAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Backends of a killed postmaster hold its shared memory for a moment; a new server cannot start until they are gone.</summary>
    private async Task KillLeftoversAsync(CancellationToken ct)
    {
        if (_lastPgid == 0 || !PostgresProcess.GroupAlive(_lastPgid))
        {
            return;
        }

        await PostgresProcess.SignalAsync(-_lastPgid, "KILL", ct).ConfigureAwait(false);
        var started = time.GetTimestamp();
        while (PostgresProcess.GroupAlive(_lastPgid) && time.GetElapsedTime(started) < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(TimeSpan.FromMilliseconds(20), time, ct).ConfigureAwait(false);
        }
    }

    private async Task RequireAsync(string program, string[] args, TimeSpan timeout, CancellationToken ct, string? stdin = null)
    {
        var (code, output) = await PostgresProcess.RunAsync(PostgresProcess.Command(options.Program(program), args), timeout, ct, stdin).ConfigureAwait(false);
        if (code != 0)
        {
            throw new DatabaseSetupException($"{program} failed for {options.DataDirectory}: {PostgresProcess.Last(output)}");
        }
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        _log.Enqueue(line);
        while (_log.Count > 50 && _log.TryDequeue(out _))
        {
        }

        if (line.Contains("FATAL:", StringComparison.Ordinal) || line.Contains("PANIC:", StringComparison.Ordinal))
        {
            LastError = Message(line);
        }
        else if (line.Contains("started streaming WAL", StringComparison.Ordinal) || line.Contains("ready to accept", StringComparison.Ordinal))
        {
            LastError = null;
        }

        // The standby holds WAL the primary's history does not contain: only a rewind brings it back.
        if (line.Contains("is not in this server's history", StringComparison.Ordinal) ||
            line.Contains("forked off current database system timeline", StringComparison.Ordinal) ||
            line.Contains("is ahead of the WAL flush position of this server", StringComparison.Ordinal))
        {
            Diverged = true;
        }
    }

    /// <summary>A server log line without its prefix (timestamp, pid, level): what follows the first double space.</summary>
    private static string Message(string line) => line[(line.IndexOf("  ", StringComparison.Ordinal) is var i and >= 0 ? i + 2 : 0)..];

    /// <summary>A superuser connection string to host:port (the agent's own, and pg_rewind's source).</summary>
    public string Connection(string host, int port) => new NpgsqlConnectionStringBuilder
    {
        Host = host, Port = port, Username = PostgresSecrets.SuperuserName, Password = Secrets.Superuser, Database = "postgres",
        ApplicationName = "halo-agent", Pooling = false, Timeout = 2, CancellationTimeout = -1,
    }.ConnectionString;

    private static string Sql(string value) => value.Replace("'", "''", StringComparison.Ordinal);

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException)
        {
            _process?.Kill();
        }

        _process?.Dispose();
    }
}
