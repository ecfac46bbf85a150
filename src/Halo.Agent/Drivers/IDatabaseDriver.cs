using Halo.Core.Failover;

namespace Halo.Agent.Drivers;

/// <summary>What a probe of the database found.</summary>
public sealed record DbProbe(bool Up, bool Healthy, MemberRole Role, long Offset, bool Fenced, string? FollowingAddress, int? Pid, string? Detail)
{
    public static DbProbe Down(string detail) => new(false, false, MemberRole.Unknown, 0, false, null, null, detail);
}

/// <summary>How an agent drives one database: probe it, promote it, make it follow a primary, fence it, kill it for a drill.</summary>
public interface IDatabaseDriver : IAsyncDisposable
{
    /// <summary>host:port of the database as clients and replicas reach it.</summary>
    string Address { get; }

    Task<DbProbe> ProbeAsync(CancellationToken ct);

    /// <summary>Make the database a writable primary, with <paramref name="minReplicasToWrite"/> as its write-safety setting.</summary>
    Task PromoteAsync(int minReplicasToWrite, CancellationToken ct);

    /// <summary>Make the database a replica of <paramref name="host"/>:<paramref name="port"/>.</summary>
    Task FollowAsync(string host, int port, CancellationToken ct);

    /// <summary>Stop accepting writes now, keeping the data and role; undone by <see cref="PromoteAsync"/> or <see cref="FollowAsync"/>.</summary>
    Task FenceAsync(CancellationToken ct);

    /// <summary>kill -9 the database process (drills). Returns false when the driver cannot.</summary>
    Task<bool> KillAsync(CancellationToken ct);
}
