using Halo.Core.Failover;
using static Halo.Core.Tests.Failover.CandidateSelectorTests;

namespace Halo.Core.Tests.Failover;

public sealed class FailoverPlannerTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 0, 0, 10, TimeSpan.Zero);
    private static readonly LeaderRecord Leader = new("a", 3, 7, Now.AddMinutes(-1));

    [Fact]
    public void Decide_NoLeader_ElectsBestMember()
    {
        var d = FailoverPlanner.Decide(new GroupView(new GroupPolicy(), null, false, [Member("b", 10), Member("c", 20)], Now));
        Assert.Equal(FailoverAction.Elect, d.Action);
        Assert.Equal("c", d.To);
    }

    [Fact]
    public void Decide_LeaseExpired_FailsOverToBestReplica()
    {
        var d = FailoverPlanner.Decide(new GroupView(new GroupPolicy(), Leader, false, [Member("a", 30, age: TimeSpan.FromSeconds(9)), Member("b", 10), Member("c", 20)], Now));
        Assert.Equal((FailoverAction.Failover, "c", "lease-expired"), (d.Action, d.To, d.Cause));
    }

    [Fact]
    public void Decide_LeaseAliveButPrimarySilent_Waits()
    {
        var d = FailoverPlanner.Decide(new GroupView(new GroupPolicy(), Leader, true, [Member("a", age: TimeSpan.FromSeconds(5)), Member("b")], Now));
        Assert.Equal(FailoverAction.None, d.Action);
    }

    [Fact]
    public void Decide_DatabaseDownWithinRestartGrace_WaitsThenFailsOver()
    {
        var policy = new GroupPolicy { RestartGrace = TimeSpan.FromSeconds(3) };
        MemberState Down(TimeSpan ago) => Member("a", dbUp: false) with { DbDownSince = Now - ago };
        Assert.Equal(FailoverAction.None, FailoverPlanner.Decide(new GroupView(policy, Leader, true, [Down(TimeSpan.FromSeconds(1)), Member("b")], Now)).Action);
        var d = FailoverPlanner.Decide(new GroupView(policy, Leader, true, [Down(TimeSpan.FromSeconds(3)), Member("b")], Now));
        Assert.Equal((FailoverAction.Failover, "b", "db-down"), (d.Action, d.To, d.Cause));
    }

    [Fact]
    public void Decide_PrimaryFencedItselfWhileTheLeaseLives_FailsOverAfterTheGrace()
    {
        MemberState Fenced(TimeSpan ago) => Member("a") with { Role = MemberRole.Primary, Epoch = 3, FencedSince = Now - ago };
        Assert.Equal(FailoverAction.None, FailoverPlanner.Decide(new GroupView(new GroupPolicy(), Leader, true, [Fenced(TimeSpan.FromMilliseconds(100)), Member("b")], Now, Confirmed: true)).Action);
        var d = FailoverPlanner.Decide(new GroupView(new GroupPolicy(), Leader, true, [Fenced(FailoverPlanner.FencedPrimaryGrace), Member("b")], Now, Confirmed: true));
        Assert.Equal((FailoverAction.Failover, "b", "primary-fenced"), (d.Action, d.To, d.Cause));
        // Not yet confirmed: a newly chosen primary is fenced until its agent promotes it.
        Assert.Equal(FailoverAction.None, FailoverPlanner.Decide(new GroupView(new GroupPolicy(), Leader, true, [Fenced(TimeSpan.FromSeconds(5)), Member("b")], Now)).Action);
        // A member still fenced from an older epoch is no reason.
        var older = Fenced(TimeSpan.FromSeconds(5)) with { Epoch = 2 };
        Assert.Equal(FailoverAction.None, FailoverPlanner.Decide(new GroupView(new GroupPolicy(), Leader, true, [older, Member("b")], Now, Confirmed: true)).Action);
    }

    [Fact]
    public void Decide_Paused_NeverFailsOver()
    {
        var d = FailoverPlanner.Decide(new GroupView(new GroupPolicy { Paused = true }, Leader, false, [Member("b")], Now));
        Assert.Equal(FailoverAction.None, d.Action);
    }

    [Fact]
    public void Decide_OnlyLaggingCandidates_WaitsAndSaysWhy()
    {
        var policy = new GroupPolicy { MaxLagBytes = 10 };
        var d = FailoverPlanner.Decide(new GroupView(policy, Leader, false, [Member("a", 1000, age: TimeSpan.FromSeconds(5)), Member("b", 100)], Now));
        Assert.Equal(FailoverAction.Wait, d.Action);
        Assert.Contains("lagging", d.Skipped["b"], StringComparison.Ordinal);
    }

    [Fact]
    public void RenewDeadline_AnyTtl_EndsBeforeTheLeaseWithRoomForTheFence()
    {
        foreach (var seconds in new[] { 1, 2, 5, 10, 60 })
        {
            var ttl = TimeSpan.FromSeconds(seconds);
            Assert.True(FencingTiming.DemotionBound(ttl) < ttl, $"ttl {seconds}s");
            Assert.True(ttl - FencingTiming.DemotionBound(ttl) >= ttl * 0.001, $"drift margin at ttl {seconds}s");
        }
    }

    [Fact]
    public void DemotionBound_DefaultTtl_MatchesTheDocumentedNumbers()
    {
        var ttl = TimeSpan.FromSeconds(2);
        Assert.Equal(TimeSpan.FromMilliseconds(1500), FencingTiming.RenewDeadline(ttl));
        Assert.Equal(TimeSpan.FromMilliseconds(1750), FencingTiming.DemotionBound(ttl));
    }
}
