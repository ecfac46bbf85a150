namespace Halo.Core.Failover;

/// <summary>What the primary's commits should wait for, and whether that falls short of the policy.</summary>
public sealed record SyncPlan(IReadOnlyList<string> Members, string Names, bool Degraded);

/// <summary>
/// Chooses the standbys a synchronous group's commits wait for: members that are fresh, up, replicas and streaming from the
/// primary, not never-promote. A standby already named keeps its place for <see cref="Grace"/> after it stops streaming, so a
/// blip or the re-pointing after a failover does not flap the setting. With fewer capable standbys than the count,
/// <c>strict</c> keeps the current setting (commits wait) and <c>preferred</c> waits for the ones there are, or none (degraded).
/// </summary>
public static class SyncPlanner
{
    /// <summary>How long a named standby may stop streaming before it is dropped from the setting.</summary>
    public static readonly TimeSpan Grace = TimeSpan.FromSeconds(2);

    public static SyncPlan Plan(
        GroupPolicy policy, string primary, IReadOnlyList<MemberState> members, IReadOnlyCollection<string> streaming,
        IReadOnlyCollection<string> current, IReadOnlyDictionary<string, DateTimeOffset> notStreamingSince, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(members);
        ArgumentNullException.ThrowIfNull(streaming);
        ArgumentNullException.ThrowIfNull(current);
        ArgumentNullException.ThrowIfNull(notStreamingSince);
        var capable = members.Where(m => m.Name != primary && !policy.For(m.Name).NeverPromote && now - m.LastReport <= policy.MemberTimeout &&
                                         m.DbUp && m.Role == MemberRole.Replica &&
                                         (streaming.Contains(m.Name) ||
                                          (current.Contains(m.Name) && (!notStreamingSince.TryGetValue(m.Name, out var since) || now - since < Grace))))
            .Select(m => m.Name).Order(StringComparer.Ordinal).ToList();
        var k = policy.SynchronousCount;
        if (capable.Count >= k)
        {
            return new SyncPlan(capable, SyncRecord.Format(capable, k), false);
        }

        if (policy.Synchronous == SynchronousMode.Strict)
        {
            // Commits keep waiting: on the standbys already named, or (none named yet) on any other promotable member.
            var kept = (current.Count > 0 ? current : members.Where(m => m.Name != primary && !policy.For(m.Name).NeverPromote).Select(m => m.Name))
                .Order(StringComparer.Ordinal).ToList();
            return new SyncPlan(kept, SyncRecord.Format(kept, k), true);
        }

        return new SyncPlan(capable, SyncRecord.Format(capable, k), true);
    }
}
