namespace Halo.Core.Failover;

/// <summary>
/// Orders the members that may become primary: fresh, database up and healthy, promotable, within the lag limit;
/// then not recently demoted (anti-flapping), highest replication offset, highest priority, and the name as a stable tiebreak.
/// </summary>
public static class CandidateSelector
{
    public static (IReadOnlyList<MemberState> Ranked, IReadOnlyDictionary<string, string> Skipped) Rank(GroupView view)
    {
        ArgumentNullException.ThrowIfNull(view);
        var policy = view.Policy;
        var current = view.Leader?.Member;
        // The lag reference is the best position anyone is known to have: the old primary's last report, or a replica ahead of it.
        var reference = view.Members.Count == 0 ? 0 : view.Members.Max(m => m.Offset);
        var skipped = new Dictionary<string, string>();
        var eligible = new List<MemberState>();
        // A group that never had a primary and has no database anywhere elects a member that can initialise one (PostgreSQL initdb).
        var bootstrap = view.Leader is null && view.Members.All(m => !m.DbUp) && view.Members.Any(m => m.Bootstrappable);
        foreach (var m in view.Members)
        {
            var reason = bootstrap
                ? (m.Bootstrappable && view.Now - m.LastReport <= policy.MemberTimeout && !policy.For(m.Name).NeverPromote ? null : "cannot bootstrap")
                : Reason(m, policy, current, reference, view.Now) ?? CommitSafetyRule.Reason(m, view);
            if (reason is null)
            {
                eligible.Add(m);
            }
            else
            {
                skipped[m.Name] = reason;
            }
        }

        return (Order(eligible, policy, view.Now), skipped);
    }

    /// <summary>Best first: not recently demoted (anti-flapping), highest offset, highest priority, then the name as a stable tiebreak.</summary>
    public static IReadOnlyList<MemberState> Order(IEnumerable<MemberState> eligible, GroupPolicy policy, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return eligible
            .OrderBy(m => m.DemotedAt is { } at && now - at < policy.AntiFlapWindow ? 1 : 0)
            .ThenByDescending(m => m.Offset)
            .ThenByDescending(m => policy.For(m.Name).Priority)
            .ThenBy(m => m.Name, StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>Why <paramref name="m"/> may not be promoted, or null when it may.</summary>
    public static string? Reason(MemberState m, GroupPolicy policy, string? currentPrimary, long referenceOffset, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(m);
        ArgumentNullException.ThrowIfNull(policy);
        if (m.Name == currentPrimary) return "current primary";
        if (policy.For(m.Name).NeverPromote) return "never-promote";
        if (now - m.LastReport > policy.MemberTimeout) return "gone (no recent report)";
        if (!m.DbUp) return "database down";
        if (!m.Healthy) return "unhealthy";
        var lag = Math.Max(0, referenceOffset - m.Offset);
        return lag > policy.MaxLagBytes ? $"lagging {lag} bytes (max {policy.MaxLagBytes})" : null;
    }
}
