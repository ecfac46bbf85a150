using Halo.Core.Failover;
using static Halo.Core.Tests.Failover.CandidateSelectorTests;

namespace Halo.Core.Tests.Failover;

public sealed class CommitSafetyRuleTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 0, 0, 10, TimeSpan.Zero);
    private static readonly LeaderRecord Leader = new("a", 3, 7, Now.AddMinutes(-1));
    private static readonly GroupPolicy Strict = new() { Synchronous = SynchronousMode.Strict };

    private static GroupView View(GroupPolicy policy, SyncRecord? sync, params MemberState[] members) => new(policy, Leader, false, members, Now, sync);

    [Fact]
    public void Decide_SynchronousAndBothStandbysFinal_PromotesTheHighest()
    {
        var d = FailoverPlanner.Decide(View(Strict, new SyncRecord(3, ["b", "c"], 1), Member("a", 900, age: TimeSpan.FromSeconds(5)), Member("b", 500), Member("c", 700)));
        Assert.Equal((FailoverAction.Failover, "c"), (d.Action, d.To));
    }

    [Fact]
    public void Decide_SynchronousAnyOneOfTwoButOneStandbySilent_DoesNotPromote()
    {
        // ANY 1 (b, c): a commit acknowledged by c alone is not on b, and c cannot be asked: promoting b could lose it.
        var d = FailoverPlanner.Decide(View(Strict, new SyncRecord(3, ["b", "c"], 1), Member("a", 900, age: TimeSpan.FromSeconds(5)), Member("b", 500),
            Member("c", 700) with { PositionFinal = false }));
        Assert.Equal(FailoverAction.Wait, d.Action);
        Assert.Contains("waiting for final positions from 2", d.Skipped["b"], StringComparison.Ordinal);
    }

    [Fact]
    public void Decide_SynchronousSingleNamedStandby_OnlyItOrOneAheadOfItIsPromoted()
    {
        var view = View(Strict, new SyncRecord(3, ["b"], 1), Member("a", 900, age: TimeSpan.FromSeconds(5)), Member("b", 500), Member("c", 400));
        var (ranked, skipped) = CandidateSelector.Rank(view);
        Assert.Equal(["b"], ranked.Select(m => m.Name));
        Assert.Contains("behind the synchronous standbys", skipped["c"], StringComparison.Ordinal);
    }

    [Fact]
    public void Rank_RecordOfAnOlderEpoch_ProvesNothingAndAsyncRulesApply()
    {
        var view = View(Strict, new SyncRecord(2, ["b"], 1), Member("a", 900, age: TimeSpan.FromSeconds(5)), Member("b", 500), Member("c", 600));
        Assert.Equal("c", CandidateSelector.Rank(view).Ranked[0].Name);
    }

    [Fact]
    public void Rank_DegradedRecord_FallsBackToHighestPosition()
    {
        var view = View(new GroupPolicy { Synchronous = SynchronousMode.Preferred }, new SyncRecord(3, [], 1), Member("b", 500), Member("c", 600));
        Assert.Equal("c", CandidateSelector.Rank(view).Ranked[0].Name);
    }

    [Fact]
    public void Rank_MemberOnAnOlderTimeline_IsNeverACandidate()
    {
        var view = View(new GroupPolicy(), null, Member("b", 9_000) with { Timeline = 2 }, Member("c", 600) with { Timeline = 3 });
        var (ranked, skipped) = CandidateSelector.Rank(view);
        Assert.Equal(["c"], ranked.Select(m => m.Name));
        Assert.Contains("timeline 2", skipped["b"], StringComparison.Ordinal);
    }

    [Fact]
    public void Decide_NoLeaderNoDatabaseAnywhere_ElectsABootstrappableMember()
    {
        var d = FailoverPlanner.Decide(new GroupView(new GroupPolicy(), null, false,
            [Member("b", dbUp: false) with { Bootstrappable = true }, Member("c", dbUp: false) with { Bootstrappable = true }], Now));
        Assert.Equal((FailoverAction.Elect, "b"), (d.Action, d.To));
    }

    [Fact]
    public void Decide_NoLeaderButOneMemberHasData_NeverBootstrapsANewDatabase()
    {
        var d = FailoverPlanner.Decide(new GroupView(new GroupPolicy(), null, false, [Member("b", dbUp: false) with { Bootstrappable = true }, Member("c", 10)], Now));
        Assert.Equal((FailoverAction.Elect, "c"), (d.Action, d.To));
    }

    [Fact]
    public void Plan_StreamingStandbys_WaitForAnyOfThem()
    {
        var plan = SyncPlanner.Plan(Strict, "a", [Member("a"), Member("b") with { Role = MemberRole.Replica }, Member("c") with { Role = MemberRole.Replica }],
            ["b", "c"], [], new Dictionary<string, DateTimeOffset>(), Now);
        Assert.Equal(("ANY 1 (\"b\", \"c\")", false), (plan.Names, plan.Degraded));
    }

    [Fact]
    public void Plan_NamedStandbyStoppedStreamingPastGrace_IsDropped()
    {
        var members = new[] { Member("a"), Member("b") with { Role = MemberRole.Replica }, Member("c") with { Role = MemberRole.Replica } };
        var within = SyncPlanner.Plan(Strict, "a", members, ["b"], ["b", "c"], new Dictionary<string, DateTimeOffset> { ["c"] = Now.AddSeconds(-1) }, Now);
        var past = SyncPlanner.Plan(Strict, "a", members, ["b"], ["b", "c"], new Dictionary<string, DateTimeOffset> { ["c"] = Now.AddSeconds(-3) }, Now);
        Assert.Equal(["b", "c"], within.Members);
        Assert.Equal(["b"], past.Members);
    }

    [Fact]
    public void Plan_NoStandbyLeft_StrictKeepsWaitingPreferredDegrades()
    {
        var members = new[] { Member("a"), Member("b", dbUp: false) with { Role = MemberRole.Replica } };
        var gone = new Dictionary<string, DateTimeOffset> { ["b"] = Now.AddSeconds(-10) };
        var strict = SyncPlanner.Plan(Strict, "a", members, [], ["b"], gone, Now);
        var preferred = SyncPlanner.Plan(new GroupPolicy { Synchronous = SynchronousMode.Preferred }, "a", members, [], ["b"], gone, Now);
        Assert.Equal(("ANY 1 (\"b\")", true), (strict.Names, strict.Degraded));
        Assert.Equal(("", true), (preferred.Names, preferred.Degraded));
    }

    [Fact]
    public void Validate_SynchronousCountOutOfRange_NamesTheField()
    {
        Assert.Contains("synchronousCount", GroupPolicyValidator.Validate(new GroupPolicy { SynchronousCount = 0 }).Keys);
        Assert.Contains("synchronous", GroupPolicyValidator.Validate(new GroupPolicy { Synchronous = (SynchronousMode)7 }).Keys);
    }
}
