using Halo.Core.Failover;

namespace Halo.Core.Tests.Failover;

public sealed class CandidateSelectorTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 0, 0, 10, TimeSpan.Zero);

    internal static MemberState Member(string name, long offset = 1000, bool dbUp = true, bool healthy = true, TimeSpan? age = null, DateTimeOffset? demotedAt = null) =>
        new(name, "127.0.0.1:1", Now - (age ?? TimeSpan.FromMilliseconds(100)), MemberRole.Replica, 1, dbUp, healthy, offset, DemotedAt: demotedAt);

    private static GroupView View(GroupPolicy policy, params MemberState[] members) =>
        new(policy, new LeaderRecord("a", 1, 1, Now), false, members, Now);

    [Fact]
    public void Rank_LaggingUnhealthyNeverPromoteAndGone_AreSkippedWithReasons()
    {
        var policy = new GroupPolicy { MaxLagBytes = 100, Members = new Dictionary<string, MemberPolicy> { ["d"] = new() { NeverPromote = true } } };
        var (ranked, skipped) = CandidateSelector.Rank(View(policy,
            Member("a", 1000), Member("b", 500), Member("c", 1000, healthy: false), Member("d", 1000), Member("e", 1000, age: TimeSpan.FromSeconds(5)),
            Member("f", 950), Member("g", 1000, dbUp: false)));

        Assert.Equal(["f"], ranked.Select(m => m.Name));
        Assert.Equal("current primary", skipped["a"]);
        Assert.StartsWith("lagging 500", skipped["b"], StringComparison.Ordinal);
        Assert.Equal("unhealthy", skipped["c"]);
        Assert.Equal("never-promote", skipped["d"]);
        Assert.StartsWith("gone", skipped["e"], StringComparison.Ordinal);
        Assert.Equal("database down", skipped["g"]);
    }

    [Fact]
    public void Rank_OffsetThenPriorityThenName_OrdersCandidates()
    {
        var policy = new GroupPolicy { Members = new Dictionary<string, MemberPolicy> { ["c"] = new() { Priority = 5 } } };
        var (ranked, _) = CandidateSelector.Rank(View(policy, Member("b", 900), Member("d", 900), Member("c", 900), Member("e", 901)));
        Assert.Equal(["e", "c", "b", "d"], ranked.Select(m => m.Name));
    }

    [Fact]
    public void Rank_RecentlyDemoted_IsLastChoiceButStillEligible()
    {
        var policy = new GroupPolicy { AntiFlapWindow = TimeSpan.FromSeconds(30) };
        var (ranked, _) = CandidateSelector.Rank(View(policy, Member("b", 2000, demotedAt: Now.AddSeconds(-5)), Member("c", 1990)));
        Assert.Equal(["c", "b"], ranked.Select(m => m.Name));
        var (alone, _) = CandidateSelector.Rank(View(policy, Member("b", 2000, demotedAt: Now.AddSeconds(-5))));
        Assert.Equal(["b"], alone.Select(m => m.Name));
    }
}
