namespace Halo.Core.Failover;

/// <summary>
/// The position round answered by the failed primary itself (docs/failover.md, "Choosing the new primary"). When the primary of
/// epoch E lost its lease (not its database: say its reports timed out), its agent fenced it, and it answers the round with
/// <see cref="MemberState.PrimaryOfEpoch"/> = E, that database is the same process that was promoted in E: it acknowledged every
/// write of E and, having been shown to hold every earlier acknowledged write when it was elected, holds those too. Its own
/// final position then bounds the round exactly, without the pigeonhole count over replicas (which needs members that may never
/// answer: a crashed former primary is held down until a primary is confirmed). A replica that follows it at or above that
/// position holds everything it does; failing one, the former primary itself is promoted again in the next epoch.
/// Only once the lease is gone: an expired lease cannot be renewed, so the fenced primary cannot take another write in E.
/// </summary>
public static class FormerPrimaryRule
{
    /// <summary>The outcome when the failed primary's own answer decides the round, or null when it does not qualify.</summary>
    public static PromotionOutcome? Evaluate(GroupView view, PositionRound round)
    {
        ArgumentNullException.ThrowIfNull(view);
        ArgumentNullException.ThrowIfNull(round);
        var policy = view.Policy;
        if (view.LeaseAlive || round.Failed is null || round.Epoch == 0 ||
            view.Members.FirstOrDefault(m => m.Name == round.Failed) is not { } failed || !Qualifies(failed, round, view))
        {
            return null;
        }

        var skipped = new Dictionary<string, string>();
        var eligible = new List<MemberState>();
        foreach (var m in view.Members.Where(m => m.Name != failed.Name))
        {
            var reason = m.Round < round.Id ? "did not answer the position round"
                : CandidateSelector.Reason(m, policy, failed.Name, failed.Offset, view.Now) ?? CommitSafetyRule.Reason(m, view)
                  ?? (m.Following != failed.Address ? $"not following the former primary {failed.Name}"
                      : m.Offset < failed.Offset ? $"behind the former primary {failed.Name} ({m.Offset} < {failed.Offset})" : null);
            if (reason is null)
            {
                eligible.Add(m);
            }
            else
            {
                skipped[m.Name] = reason;
            }
        }

        var bound = $"bound {failed.Offset}: the fenced primary of epoch {round.Epoch} answered";
        if (eligible.Count > 0)
        {
            var best = CandidateSelector.Order(eligible, policy, view.Now)[0];
            return new PromotionOutcome(PromotionVerdict.Promote, best.Name, $"{best.Name} at {best.Offset} ({bound})", skipped);
        }

        if ((CandidateSelector.Reason(failed, policy, null, failed.Offset, view.Now) ?? CommitSafetyRule.Reason(failed, view)) is not null)
        {
            return null; // it cannot be promoted itself: the replicas' count decides (PromotionRule)
        }

        return new PromotionOutcome(PromotionVerdict.Promote, failed.Name, $"{failed.Name} again at {failed.Offset} ({bound}; no replica follows it that far)", skipped);
    }

    /// <summary>Answered this round, fresh, database up and fenced as primary, the same process it promoted in the round's epoch.</summary>
    private static bool Qualifies(MemberState failed, PositionRound round, GroupView view) =>
        failed.Round >= round.Id && view.Now - failed.LastReport <= view.Policy.MemberTimeout && failed is { DbUp: true, Healthy: true, Role: MemberRole.Primary, FencedSince: not null } &&
        failed.PrimaryOfEpoch == round.Epoch;
}
