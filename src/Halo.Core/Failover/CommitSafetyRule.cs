namespace Halo.Core.Failover;

/// <summary>
/// Which candidates provably hold every acknowledged commit. Two checks on top of <see cref="CandidateSelector.Reason"/>:
/// <list type="bullet">
/// <item>a member on an older timeline than another member is on a branch the group has left: its position is not comparable;</item>
/// <item>in synchronous mode, with record R (count k) for the failed primary's epoch, every acknowledged commit is on k members of R,
/// so among any |R| − k + 1 of them, read after the failure, the highest position holds all of them. A candidate must reach that
/// position; with fewer members of R heard from, nobody is promoted (when in doubt, do not promote).</item>
/// </list>
/// </summary>
public static class CommitSafetyRule
{
    public static string? Reason(MemberState m, GroupView view)
    {
        ArgumentNullException.ThrowIfNull(m);
        ArgumentNullException.ThrowIfNull(view);
        var newest = view.Members.Count == 0 ? 0 : view.Members.Max(x => x.Timeline);
        if (m.Timeline > 0 && m.Timeline < newest)
        {
            return $"on timeline {m.Timeline}, the group is on {newest}";
        }

        if (view.Policy.Synchronous == SynchronousMode.Off || view.Sync is not { Members.Count: > 0 } sync || sync.Epoch != view.Leader?.Epoch)
        {
            return null; // asynchronous (or degraded): the highest position within maxLagBytes wins, nothing more is provable
        }

        var heard = view.Members.Where(x => x.PositionFinal && sync.Members.Contains(x.Name)).ToList();
        var need = sync.Members.Count - Math.Min(sync.Count, sync.Members.Count) + 1;
        if (heard.Count < need)
        {
            return $"waiting for final positions from {need} of the synchronous standbys ({string.Join(", ", sync.Members)}); have {heard.Count}";
        }

        if (!m.PositionFinal)
        {
            return "position not yet read after the failure";
        }

        var floor = heard.Max(x => x.Offset);
        return m.Offset < floor ? $"behind the synchronous standbys ({m.Offset} < {floor}): could miss acknowledged commits" : null;
    }
}
