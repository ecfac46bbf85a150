using System.Collections.Concurrent;
using Halo.Core.Failover;
using Halo.Store;

namespace Halo.Server.Groups;

/// <summary>
/// The one path by which this server renews a primary's group lease (docs/ha.md, "One path renews a primary's lease"): for a
/// report that the group's decider takes (<see cref="GroupActor.ReportAsync"/>), and for a report answered from the store while
/// the decider is away (<see cref="GroupRouter.AnswerFromStoreAsync(string, string, MemberReport, CancellationToken)"/>). Both
/// follow one rule (<see cref="MayRenew"/>) and keep one account of the leases the store failed to renew here, so the actor that
/// decides the group on this server (now or after a handoff) knows that a lapse was the store's doing, whichever path failed.
/// </summary>
/// <remarks>
/// Until 2026-11-29 the answer from the store renewed the lease through its own keep-alive, beside the actor's, and the account
/// lived in the actor: a server that answered a primary's reports from the store while etcd elected a leader, then took the group
/// over, saw only the lapse (issue 9.3).
/// </remarks>
internal sealed class GroupLease(IStore store)
{
    // Per group, the lease whose last renewal here the store failed (an error or, for the decider, a timeout; not "the lease is
    // gone"); removed when a renewal of that lease succeeds.
    private readonly ConcurrentDictionary<string, long> _storeFailed = new(StringComparer.Ordinal);

    /// <summary>
    /// Whether a report of <paramref name="member"/> may renew the lease of <paramref name="leader"/>: the record must name that
    /// member in the epoch it reports. The decider renews whatever that member reports (a fenced primary lifts its fence at a
    /// renewal); an answer from the store only a writable primary's (lifting a fence or promoting is the decider's call).
    /// </summary>
    public static bool MayRenew(LeaderRecord? leader, string member, MemberReport report, bool byDecider) =>
        leader is not null && leader.Member == member && leader.Epoch == report.Epoch &&
        (byDecider || report is { Role: MemberRole.Primary, DbUp: true, Fenced: false });

    /// <summary>
    /// Renews <paramref name="leaseId"/>, the lease of <paramref name="group"/>'s primary; false when the store no longer knows it.
    /// A store error is remembered (see <see cref="StoreFailed"/>) and rethrown; so is a cancellation when
    /// <paramref name="cancelIsStoreFailure"/> (the decider's renewal, given up by the server that forwarded the report because the
    /// store was slow; an answer from the store is cancelled when the decider's answer wins, which says nothing about the store).
    /// </summary>
    public async Task<bool> RenewAsync(string group, long leaseId, bool cancelIsStoreFailure, CancellationToken ct)
    {
        bool renewed;
        try
        {
            renewed = await store.KeepAliveAsync(leaseId, ct).ConfigureAwait(false);
        }
        catch (StoreUnavailableException)
        {
            _storeFailed[group] = leaseId;
            throw;
        }
        catch (OperationCanceledException) when (cancelIsStoreFailure)
        {
            _storeFailed[group] = leaseId;
            throw;
        }

        if (renewed)
        {
            _storeFailed.TryRemove(KeyValuePair.Create(group, leaseId));
        }

        return renewed;
    }

    /// <summary>True when the store failed this server's last renewal of <paramref name="leaseId"/> (no success since).</summary>
    public bool StoreFailed(string group, long leaseId) => _storeFailed.TryGetValue(group, out var failed) && failed == leaseId;

    /// <summary>Forgets a deleted group.</summary>
    public void Forget(string group) => _storeFailed.TryRemove(group, out _);
}
