namespace Halo.Core.Failover;

/// <summary>
/// The leadership record of a group (store key groups/{name}/leader): who is primary, in which fencing epoch,
/// under which store lease. Replaced only by compare-and-set, each time with Epoch + 1, so an epoch names one primary.
/// </summary>
public sealed record LeaderRecord(string Member, long Epoch, long LeaseId, DateTimeOffset Since, string Cause = "");

/// <summary>A leader record as read, with the store ModRevision a compare-and-set must match (0 when absent).</summary>
public sealed record VersionedLeader(LeaderRecord? Record, long Revision);

/// <summary>Where the leader record lives; the server implements it over the store, tests over an in-memory register.</summary>
public interface ILeaderRecordStore
{
    Task<VersionedLeader> ReadAsync(CancellationToken cancellationToken = default);

    /// <summary>Writes <paramref name="next"/> only if the record's revision is still <paramref name="expectedRevision"/>.</summary>
    Task<bool> TryReplaceAsync(long expectedRevision, LeaderRecord next, CancellationToken cancellationToken = default);
}

/// <summary>The one way a leader record changes: the next epoch, by compare-and-set against what was observed.</summary>
public static class LeaderElection
{
    public static LeaderRecord Next(LeaderRecord? current, string member, long leaseId, DateTimeOffset now, string cause) =>
        new(member, (current?.Epoch ?? 0) + 1, leaseId, now, cause);

    /// <summary>
    /// Makes <paramref name="member"/> primary in the epoch after <paramref name="observed"/>. Returns null when the record
    /// changed since it was observed: the caller decided on a stale view and must look again, never retry blindly.
    /// </summary>
    public static async Task<LeaderRecord?> TryTakeOverAsync(
        ILeaderRecordStore store, VersionedLeader observed, string member, long leaseId, DateTimeOffset now, string cause,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(observed);
        var next = Next(observed.Record, member, leaseId, now, cause);
        return await store.TryReplaceAsync(observed.Revision, next, cancellationToken).ConfigureAwait(false) ? next : null;
    }
}
