namespace Halo.Core.Failover;

/// <summary>
/// A question the controller puts to every member's agent when it must choose a primary: "what is your position now?".
/// Agents see the round (status and report answers carry its id), probe, and answer with a report naming the round; only
/// an answer to this round is a position known to be final, because it was read after the failure was seen.
/// </summary>
/// <param name="Id">Increases with every round; a report answers the round when its <c>Round</c> is at least this.</param>
/// <param name="Failed">The primary being replaced, or null when the group elects its first one.</param>
/// <param name="Epoch">The epoch of <paramref name="Failed"/> (0 when electing the first primary).</param>
/// <param name="OpenedAt">When the round was opened, on the controller's clock.</param>
/// <param name="Deadline">How long answers are waited for before the controller decides on the answers it has.</param>
public sealed record PositionRound(long Id, string? Failed, long Epoch, string Cause, DateTimeOffset OpenedAt, DateTimeOffset Deadline);

public enum PromotionVerdict
{
    /// <summary>Answers are still expected: decide later.</summary>
    Wait,
    /// <summary>Promote <see cref="PromotionOutcome.To"/>: it holds every acknowledged write.</summary>
    Promote,
    /// <summary>No member can be shown to hold every acknowledged write: do not promote; say why.</summary>
    Blocked,
}

/// <summary>What the rule concluded, with the reason in words and why each member was or was not chosen.</summary>
public sealed record PromotionOutcome(PromotionVerdict Verdict, string? To, string Reason, IReadOnlyDictionary<string, string> Skipped);

/// <summary>
/// The promotion rule (docs/failover.md, "Choosing the new primary"). With <see cref="GroupPolicy.AckReplicas"/> = W, clients
/// count a write as acknowledged once W replicas hold it (Redis <c>WAIT W</c>). Of the N replicas of the failed primary, once
/// at least N − W + 1 have answered the round with their database up, at least one of the W replicas holding any acknowledged
/// write is among them (pigeonhole), so that write's offset is at most the (W − missing)-th highest answered offset. A candidate
/// at or above that bound holds every acknowledged write; a member that did not answer is never a candidate. With W = 0
/// nothing is promised beyond asynchronous replication: one answer suffices, and the highest answered offset wins.
/// </summary>
public static class PromotionRule
{
    public static PromotionOutcome Evaluate(GroupView view, PositionRound round)
    {
        ArgumentNullException.ThrowIfNull(view);
        ArgumentNullException.ThrowIfNull(round);
        var policy = view.Policy;
        // Only an answer to this round is a final position (the synchronous rule, CommitSafetyRule, counts only those too).
        view = view with { Members = view.Members.Select(m => m with { PositionFinal = m.Round >= round.Id }).ToList() };
        if (round.Failed is null)
        {
            return Elect(view, round);
        }

        if (FormerPrimaryRule.Evaluate(view, round) is { } former)
        {
            return former; // the fenced former primary answered: its own position bounds the round
        }

        if (SoleCopyRule.Evaluate(view, round) is { } sole)
        {
            return sole; // every other member answered with no data at all: the failed primary's copy is the group's only one
        }

        var replicas = view.Members.Where(m => m.Name != round.Failed).ToList();
        var fresh = replicas.Where(m => m.Round >= round.Id && view.Now - m.LastReport <= policy.MemberTimeout).ToList();
        // A replica that is down, loading or has never synced has no position it could have acknowledged a write from.
        var known = fresh.Where(m => m.DbUp && m.Healthy).OrderByDescending(m => m.Offset).ToList();
        var silent = replicas.Where(m => !fresh.Contains(m)).Select(m => m.Name).ToList();
        var deadlinePassed = view.Now >= round.Deadline;
        // In synchronous mode the sync record says who holds acknowledged commits (CommitSafetyRule); ackReplicas is the client-side WAIT.
        var w = policy.Synchronous == SynchronousMode.Off ? policy.AckReplicas : 0;
        var required = w == 0 ? 1 : Math.Max(1, replicas.Count - w + 1);

        if (known.Count < required || (silent.Count > 0 && !deadlinePassed))
        {
            if (!deadlinePassed)
            {
                return Outcome(PromotionVerdict.Wait, null, $"waiting for positions from {string.Join(", ", silent.DefaultIfEmpty("-"))}", replicas, round, fresh);
            }

            var down = fresh.Where(m => !known.Contains(m)).Select(m => m.Name).ToList();
            var why = $"only {known.Count} of {replicas.Count} replicas answered with a position ({string.Join(", ", known.Select(m => $"{m.Name}@{m.Offset}").DefaultIfEmpty("none"))}); " +
                      (w == 0 ? "at least one is needed" : $"with ackReplicas {w} a write may be acknowledged by replicas that did not answer ({string.Join(", ", silent.Concat(down))}), so {required} answers are needed");
            return Outcome(PromotionVerdict.Blocked, null, why, replicas, round, fresh);
        }

        // The bound every candidate must reach: an acknowledged write is on W replicas, at most `missing` of them silent.
        var missing = replicas.Count - known.Count;
        long bound = w == 0 ? long.MinValue : known[Math.Min(known.Count, w - missing) - 1].Offset;
        var reference = Math.Max(known[0].Offset, view.Members.Where(m => m.Name == round.Failed).Select(m => m.Offset).DefaultIfEmpty(0).Max());
        var skipped = new Dictionary<string, string>();
        var eligible = new List<MemberState>();
        foreach (var m in known)
        {
            var reason = CandidateSelector.Reason(m, policy, round.Failed, reference, view.Now) ?? CommitSafetyRule.Reason(m, view) ??
                         (m.Offset < bound ? $"behind the acknowledged bound {bound} at {m.Offset}" : null);
            if (reason is null)
            {
                eligible.Add(m);
            }
            else
            {
                skipped[m.Name] = reason;
            }
        }

        if (eligible.Count == 0)
        {
            return Outcome(PromotionVerdict.Blocked, null,
                $"no answering member can be promoted and hold every acknowledged write (bound {(w == 0 ? "none" : bound)}): " +
                string.Join("; ", skipped.Select(s => $"{s.Key}: {s.Value}")), replicas, round, fresh, skipped);
        }

        var best = CandidateSelector.Order(eligible, policy, view.Now)[0];
        return Outcome(PromotionVerdict.Promote, best.Name, $"{best.Name} at {best.Offset} (bound {(w == 0 ? "none" : bound)}, {known.Count} of {replicas.Count} answered)",
            replicas, round, fresh, skipped);
    }

    /// <summary>
    /// A first election has no acknowledged writes to protect and no one to alarm: among the members that answered, the best by
    /// <see cref="CandidateSelector.Rank"/> (which also elects a member able to initialise an empty group), once everyone has
    /// answered or the wait is over; otherwise it waits.
    /// </summary>
    private static PromotionOutcome Elect(GroupView view, PositionRound round)
    {
        var answered = view.Members.Where(m => m.PositionFinal).ToList();
        var (ranked, skipped) = CandidateSelector.Rank(view with { Members = answered });
        var waiting = view.Members.Where(m => !m.PositionFinal).Select(m => m.Name).ToList();
        var all = new Dictionary<string, string>(skipped);
        foreach (var name in waiting)
        {
            all[name] = "did not answer the position round";
        }

        return ranked.Count > 0 && (waiting.Count == 0 || view.Now >= round.Deadline)
            ? new PromotionOutcome(PromotionVerdict.Promote, ranked[0].Name, $"{ranked[0].Name} at {ranked[0].Offset} (first election, {answered.Count} of {view.Members.Count} answered)", all)
            : new PromotionOutcome(PromotionVerdict.Wait, null, $"first election: waiting for {string.Join(", ", waiting.DefaultIfEmpty("a member that can be elected"))}", all);
    }

    private static PromotionOutcome Outcome(
        PromotionVerdict verdict, string? to, string reason, List<MemberState> replicas, PositionRound round, List<MemberState> fresh,
        Dictionary<string, string>? skipped = null)
    {
        skipped ??= [];
        foreach (var m in replicas.Where(m => !fresh.Contains(m) && !skipped.ContainsKey(m.Name)))
        {
            skipped[m.Name] = m.Round >= round.Id ? "gone (no recent report)" : "did not answer the position round";
        }

        foreach (var m in fresh.Where(m => !(m.DbUp && m.Healthy) && !skipped.ContainsKey(m.Name)))
        {
            skipped[m.Name] = m.DbUp ? "unhealthy (no usable position)" : "database down";
        }

        return new PromotionOutcome(verdict, to, reason, skipped);
    }
}
