namespace Halo.Core.Failover;

/// <summary>
/// The position round of a group whose only data is the failed primary's (docs/failover.md, "The only copy"). A member that answers
/// the round as <see cref="MemberState.Bootstrappable"/> has an empty data directory: it holds no write, acknowledged or not.
/// When every other member answered so, every acknowledged write of the group is on the failed primary alone, and promoting
/// anyone else would lose them all; the failed primary itself, once its database is up, holds every one of them. That is the
/// first primary of a PostgreSQL group whose lease lapsed while initdb ran on a starved machine: its replicas had nothing to
/// copy yet. It is promoted again, in the next epoch (the epoch compare-and-set still makes it the only primary).
/// When the failed primary has no database either (every member is empty), nothing was ever written: the group is elected
/// afresh among the members that can initialise one.
/// Only once the lease is gone and every member answered this round: a silent member might hold data.
/// </summary>
public static class SoleCopyRule
{
    /// <summary>The outcome when the group's only copy is the failed primary's (or there is none), or null when the rule does not apply.</summary>
    public static PromotionOutcome? Evaluate(GroupView view, PositionRound round)
    {
        ArgumentNullException.ThrowIfNull(view);
        ArgumentNullException.ThrowIfNull(round);
        var policy = view.Policy;
        if (view.LeaseAlive || round.Failed is null || view.Members.FirstOrDefault(m => m.Name == round.Failed) is not { } failed)
        {
            return null;
        }

        var others = view.Members.Where(m => m.Name != failed.Name).ToList();
        if (others.Count == 0 || !others.All(m => Answered(m, round, view) && m.Bootstrappable && !m.DbUp) || !Answered(failed, round, view))
        {
            return null;
        }

        var skipped = others.ToDictionary(m => m.Name, _ => "no database (empty data directory)");
        if (failed.Bootstrappable && !failed.DbUp)
        {
            // Nobody holds any data: a fresh first election (CandidateSelector's bootstrap), the failed member included.
            // The failed member first when it may be elected: its agent acts on the assignment it last had and may be starting
            // initdb right now; electing another empty member would start a second history beside it.
            var (ranked, why) = CandidateSelector.Rank(view with { Leader = null });
            var chosen = ranked.FirstOrDefault(m => m.Name == failed.Name) ?? (ranked.Count > 0 ? ranked[0] : null);
            return chosen is not null
                ? new PromotionOutcome(PromotionVerdict.Promote, chosen.Name, $"{chosen.Name} (no member holds any data: elected afresh to initialise the group)", why)
                : null;
        }

        var reason = CandidateSelector.Reason(failed, policy, null, failed.Offset, view.Now) ?? CommitSafetyRule.Reason(failed, view);
        if (reason is not null)
        {
            return null; // its database is not up yet (initdb or crash recovery still running): the round waits or blocks as before
        }

        return new PromotionOutcome(PromotionVerdict.Promote, failed.Name,
            $"{failed.Name} again at {failed.Offset} (the only member with data; every other member answered with an empty data directory)", skipped);
    }

    private static bool Answered(MemberState m, PositionRound round, GroupView view) =>
        m.Round >= round.Id && view.Now - m.LastReport <= view.Policy.MemberTimeout;
}
