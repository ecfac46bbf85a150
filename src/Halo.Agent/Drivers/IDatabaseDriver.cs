using Halo.Core.Failover;

namespace Halo.Agent.Drivers;

/// <summary>
/// What a probe of the database found. <paramref name="Timeline"/>, <paramref name="SynchronousStandbys"/> and
/// <paramref name="StreamingStandbys"/> come from drivers with timelines and synchronous replication (PostgreSQL);
/// <paramref name="Bootstrappable"/> means there is no database yet and the agent could initialise one. <paramref name="TimedOut"/>:
/// the database did not answer in time (slow, paused or starved), as opposed to refusing the connection (gone); the agent calls
/// it down only when that lasts (<see cref="AgentOptions.ProbeTimeoutGrace"/>).
/// </summary>
public sealed record DbProbe(
    bool Up, bool Healthy, MemberRole Role, long Offset, bool Fenced, string? FollowingAddress, int? Pid, string? Detail,
    long Timeline = 0, string? SynchronousStandbys = null, IReadOnlyList<string>? StreamingStandbys = null, bool Bootstrappable = false,
    bool TimedOut = false)
{
    public static DbProbe Down(string detail) => new(false, false, MemberRole.Unknown, 0, false, null, null, detail);
}

/// <summary>A setup problem no retry can fix (wrong data directory, missing binary, rejected credentials): the agent stops with its reason.</summary>
public sealed class DatabaseSetupException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>How an agent drives one database: probe it, promote it, make it follow a primary, fence it, kill it for a drill.</summary>
public interface IDatabaseDriver : IAsyncDisposable
{
    /// <summary>host:port of the database as clients and replicas reach it.</summary>
    string Address { get; }

    /// <summary>Which driver this is (redis, postgres, exec), reported so tools pick the right client.</summary>
    string Kind => "exec";

    Task<DbProbe> ProbeAsync(CancellationToken ct);

    /// <summary>Make the database a writable primary, with <paramref name="minReplicasToWrite"/> as its write-safety setting.</summary>
    Task PromoteAsync(int minReplicasToWrite, CancellationToken ct);

    /// <summary>Make the database a replica of <paramref name="host"/>:<paramref name="port"/>.</summary>
    Task FollowAsync(string host, int port, CancellationToken ct);

    /// <summary>Stop accepting writes now, keeping the data and role; undone by <see cref="PromoteAsync"/> or <see cref="FollowAsync"/>.</summary>
    Task FenceAsync(CancellationToken ct);

    /// <summary>kill -9 the database process (drills). Returns false when the driver cannot.</summary>
    Task<bool> KillAsync(CancellationToken ct);

    /// <summary>
    /// On a primary (or a standby about to be promoted): which standbys each commit waits for, as PostgreSQL's
    /// synchronous_standby_names ("" for none). Drivers without synchronous replication ignore it.
    /// </summary>
    Task ConfigureSynchronousAsync(string standbyNames, CancellationToken ct) => Task.CompletedTask;
}

/// <summary>A database the agent runs itself (managed mode): started, restarted and re-joined by the agent.</summary>
public interface IManagedDatabase : IAsyncDisposable
{
    /// <summary>True once the agent has started the database at least once (so a stopped one is a crash, not a first start).</summary>
    bool Started { get; }

    bool Running { get; }

    int Restarts { get; }

    /// <summary>
    /// Starts the database unless it is running — always fenced, following <paramref name="followHost"/>:<paramref name="followPort"/>
    /// when given — and returns true when it (re)started it. <paramref name="assigned"/> is the role the server gave this member
    /// (a database that does not exist yet is created only once the member knows whether to initialise or to copy one).
    /// </summary>
    Task<bool> EnsureRunningAsync(MemberRole assigned, string? followHost, int? followPort, CancellationToken ct);
}
