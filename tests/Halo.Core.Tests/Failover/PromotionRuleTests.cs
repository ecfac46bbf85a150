using CsCheck;
using Halo.Core.Failover;

namespace Halo.Core.Tests.Failover;

public sealed class PromotionRuleTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 0, 0, 10, TimeSpan.Zero);
    private static readonly PositionRound Round = new(50, "a", 3, "db-down", Now.AddMilliseconds(-100), Now.AddSeconds(1));
    private static readonly PositionRound Late = Round with { Deadline = Now };

    /// <summary>A replica that answered round 50 (or did not, when <paramref name="answered"/> is false).</summary>
    private static MemberState M(string name, long offset, bool answered = true, bool dbUp = true, bool healthy = true) =>
        new(name, "127.0.0.1:1", Now.AddMilliseconds(-20), MemberRole.Replica, 3, dbUp, healthy, offset, Round: answered ? 50 : 49);

    private static MemberState Failed => new("a", "127.0.0.1:1", Now.AddSeconds(-5), MemberRole.Primary, 3, false, false, 900);

    private static PromotionOutcome Evaluate(PositionRound round, GroupPolicy policy, params MemberState[] replicas) =>
        PromotionRule.Evaluate(new GroupView(policy, new LeaderRecord("a", 3, 1, Now.AddMinutes(-1)), true, [Failed, .. replicas], Now), round);

    [Fact]
    public void Evaluate_EveryReplicaAnswered_PromotesTheHighestFinalOffsetAtOnce()
    {
        var o = Evaluate(Round, new GroupPolicy(), M("b", 800), M("c", 1000));
        Assert.Equal((PromotionVerdict.Promote, "c"), (o.Verdict, o.To));
    }

    [Fact]
    public void Evaluate_ReplicaSilentBeforeTheDeadline_Waits()
    {
        var o = Evaluate(Round, new GroupPolicy(), M("b", 800), M("c", 1000, answered: false));
        Assert.Equal(PromotionVerdict.Wait, o.Verdict);
        Assert.Contains("c", o.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Evaluate_AckReplicasOneAndAReplicaSilentAtTheDeadline_BlocksNamingIt()
    {
        // The write acknowledged by WAIT 1 may be on c alone: promoting b could lose it.
        var o = Evaluate(Late, new GroupPolicy { AckReplicas = 1 }, M("b", 800), M("c", 1000, answered: false));
        Assert.Equal(PromotionVerdict.Blocked, o.Verdict);
        Assert.Null(o.To);
        Assert.Contains("(c)", o.Reason, StringComparison.Ordinal);
        Assert.Equal("did not answer the position round", o.Skipped["c"]);
    }

    [Fact]
    public void Evaluate_AckReplicasZeroAndAReplicaSilentAtTheDeadline_PromotesTheOneThatAnswered()
    {
        var o = Evaluate(Late, new GroupPolicy { AckReplicas = 0 }, M("b", 800), M("c", 1000, answered: false));
        Assert.Equal((PromotionVerdict.Promote, "b"), (o.Verdict, o.To));
    }

    [Fact]
    public void Evaluate_AckReplicasTwoOfThreeAndOneSilent_PromotesTheBestOfTheOthers()
    {
        var o = Evaluate(Late, new GroupPolicy { AckReplicas = 2 }, M("b", 800), M("c", 1000), M("d", 1200, answered: false));
        Assert.Equal((PromotionVerdict.Promote, "c"), (o.Verdict, o.To));
    }

    [Fact]
    public void Evaluate_BestHolderNeverPromoteAndAckReplicasOne_BlocksBecauseTheOtherIsBehind()
    {
        var policy = new GroupPolicy { Members = new Dictionary<string, MemberPolicy> { ["c"] = new() { NeverPromote = true } } };
        var o = Evaluate(Round, policy, M("b", 800), M("c", 1000));
        Assert.Equal(PromotionVerdict.Blocked, o.Verdict);
        Assert.Contains("behind the acknowledged bound 1000", o.Skipped["b"], StringComparison.Ordinal);
    }

    [Fact]
    public void Evaluate_BestHolderNeverPromoteAndAckReplicasTwo_SecondBestHoldsEveryAcknowledgedWrite()
    {
        var policy = new GroupPolicy { AckReplicas = 2, Members = new Dictionary<string, MemberPolicy> { ["c"] = new() { NeverPromote = true } } };
        var o = Evaluate(Round, policy, M("b", 800), M("c", 1000), M("d", 700));
        Assert.Equal((PromotionVerdict.Promote, "b"), (o.Verdict, o.To));
    }

    [Fact]
    public void Evaluate_AnsweredWithDatabaseDownOrUnsynced_IsNoPosition()
    {
        var o = Evaluate(Late, new GroupPolicy(), M("b", 800), M("c", 1000, dbUp: false));
        Assert.Equal(PromotionVerdict.Blocked, o.Verdict);
        Assert.Equal("database down", o.Skipped["c"]);
        var unsynced = Evaluate(Late, new GroupPolicy(), M("b", 800), M("c", 5000, healthy: false));
        Assert.Equal(PromotionVerdict.Blocked, unsynced.Verdict);
        Assert.StartsWith("unhealthy", unsynced.Skipped["c"], StringComparison.Ordinal);
    }

    [Fact]
    public void Evaluate_AnswerThatWentStale_DoesNotCount()
    {
        var stale = M("c", 1000) with { LastReport = Now.AddSeconds(-2) };
        var o = Evaluate(Late, new GroupPolicy(), M("b", 800), stale);
        Assert.Equal(PromotionVerdict.Blocked, o.Verdict);
    }

    [Fact]
    public void Evaluate_FirstElection_NeedsOneAnswerAndPrefersTheHighestOffset()
    {
        var first = new PositionRound(50, null, 0, "bootstrap", Now.AddMilliseconds(-100), Now);
        var o = PromotionRule.Evaluate(new GroupView(new GroupPolicy(), null, false, [M("b", 10), M("c", 20), M("d", 30, answered: false)], Now), first);
        Assert.Equal((PromotionVerdict.Promote, "c"), (o.Verdict, o.To));
        var nobody = PromotionRule.Evaluate(new GroupView(new GroupPolicy(), null, false, [M("b", 10, answered: false)], Now), first);
        Assert.Equal(PromotionVerdict.Wait, nobody.Verdict);
    }

    /// <summary>
    /// Whatever the offsets, W, who answered and who may be promoted: when the rule promotes, the member holds every write
    /// that W replicas acknowledged (the W-th highest final offset over all replicas, silent ones included).
    /// </summary>
    [Fact]
    public void Evaluate_AnyHistory_NeverPromotesAMemberMissingAnAcknowledgedWrite()
    {
        var replica = Gen.Select(Gen.Long[0, 50], Gen.Bool, Gen.Int[0, 9], Gen.Bool);
        Gen.Select(replica.Array[1, 6], Gen.Int[0, 4], Gen.Bool).Sample((replicas, w, late) =>
        {
            var members = replicas.Select((r, i) => M($"r{i}", r.Item1 * 10, answered: r.Item3 > 2, healthy: r.Item3 != 1)).ToArray();
            var policy = new GroupPolicy
            {
                AckReplicas = w,
                Members = replicas.Select((r, i) => (r, i)).Where(x => x.r.Item2 && x.r.Item4).ToDictionary(x => $"r{x.i}", _ => new MemberPolicy { NeverPromote = true }),
            };
            var o = Evaluate(late ? Late : Round, policy, members);
            if (o.Verdict != PromotionVerdict.Promote || w == 0)
            {
                return true;
            }

            // Any replica may hold an acknowledged write, even one that is unhealthy or silent now.
            var holders = members.Select(m => m.Offset).OrderDescending().ToList();
            var acknowledged = holders.Count >= w ? holders[w - 1] : long.MinValue;
            return members.Single(m => m.Name == o.To).Offset >= acknowledged;
        }, iter: 20_000);
    }
    /// <summary>The failed primary "a" answering round 50 fenced, its database up since it was promoted in <paramref name="primaryOf"/>.</summary>
    private static MemberState Former(long offset, long primaryOf = 3, bool fenced = true) =>
        new("a", "127.0.0.1:9", Now.AddMilliseconds(-20), MemberRole.Primary, 3, true, true, offset, Round: 50, PrimaryOfEpoch: primaryOf,
            FencedSince: fenced ? Now.AddSeconds(-1) : null);

    private static PromotionOutcome LeaseLapsed(MemberState former, GroupPolicy policy, bool leaseAlive = false, params MemberState[] replicas) =>
        PromotionRule.Evaluate(new GroupView(policy, new LeaderRecord("a", 3, 1, Now.AddMinutes(-1)), leaseAlive, [former, .. replicas], Now), Late);

    [Fact]
    public void Evaluate_FencedFormerPrimaryAnsweredAndAReplicaCannot_PromotesTheFormerPrimaryAgain()
    {
        // The blocked two-way cut (seed 20261128, trial 4): b is the crashed primary of the epoch before, held down, so with
        // ackReplicas 1 the replicas' count can never be met; a itself holds every write it acknowledged. c follows someone else.
        var b = M("b", 0, dbUp: false, healthy: false);
        var c = M("c", 1500) with { Following = "127.0.0.1:7" };
        var o = LeaseLapsed(Former(1000), new GroupPolicy { AckReplicas = 1 }, false, b, c);
        Assert.Equal((PromotionVerdict.Promote, "a"), (o.Verdict, o.To));
        Assert.Equal("not following the former primary a", o.Skipped["c"]);
    }

    [Fact]
    public void Evaluate_FencedFormerPrimaryAnswered_PromotesAReplicaFollowingItAtOrAboveItsPosition()
    {
        var b = M("b", 990) with { Following = "127.0.0.1:9" };
        var c = M("c", 1000) with { Following = "127.0.0.1:9" };
        var o = LeaseLapsed(Former(1000), new GroupPolicy { AckReplicas = 1 }, false, b, c);
        Assert.Equal((PromotionVerdict.Promote, "c"), (o.Verdict, o.To));
        Assert.Equal("behind the former primary a (990 < 1000)", o.Skipped["b"]);
    }

    [Theory]
    [InlineData(2L, true, false)] // promoted in an earlier epoch (or restarted since): it does not vouch for epoch 3
    [InlineData(3L, false, false)] // not fenced: it might still take writes
    [InlineData(3L, true, true)] // the lease is still alive: it could be renewed and the primary unfenced
    public void Evaluate_FormerPrimaryNotProvablyTheWholeEpoch_FallsBackToTheReplicasCount(long primaryOf, bool fenced, bool leaseAlive)
    {
        var o = LeaseLapsed(Former(1000, primaryOf, fenced), new GroupPolicy { AckReplicas = 1 }, leaseAlive, M("b", 0, dbUp: false, healthy: false), M("c", 1500));
        Assert.Equal(PromotionVerdict.Blocked, o.Verdict);
    }

    /// <summary>A member that answered round 50 with an empty data directory (PostgreSQL before initdb or pg_basebackup).</summary>
    private static MemberState Empty(string name, bool answered = true) =>
        new(name, "127.0.0.1:1", Now.AddMilliseconds(-20), MemberRole.Unknown, 3, false, false, 0, Bootstrappable: true, Round: answered ? 50 : 49);

    /// <summary>The first primary "a", elected in epoch 3 to initialise the group; its lease lapsed while initdb ran.</summary>
    private static MemberState Bootstrapped(bool dbUp = true) =>
        new("a", "127.0.0.1:9", Now.AddMilliseconds(-20), MemberRole.Primary, 3, dbUp, dbUp, dbUp ? 24_000_000 : 0, Round: 50,
            FencedSince: dbUp ? Now.AddSeconds(-1) : null, Bootstrappable: !dbUp);

    [Fact]
    public void Evaluate_LeaseLapsedDuringInitdbAndTheOthersAreEmpty_PromotesTheOnlyMemberWithDataAgain()
    {
        // Seen under stress (docs/postgres.md): the lease lapsed while initdb ran, the others had nothing to copy; the round
        // blocked forever on "only 0 of 2 replicas answered with a position".
        var o = LeaseLapsed(Bootstrapped(), new GroupPolicy { AckReplicas = 1 }, false, Empty("b"), Empty("c"));
        Assert.Equal((PromotionVerdict.Promote, "a"), (o.Verdict, o.To));
        Assert.Contains("only member with data", o.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Evaluate_NobodyHoldsData_ElectsAfreshAmongTheMembersThatCanInitialise()
    {
        var o = LeaseLapsed(Bootstrapped(dbUp: false), new GroupPolicy(), false, Empty("b"), Empty("c"));
        Assert.Equal(PromotionVerdict.Promote, o.Verdict);
        Assert.Contains("elected afresh", o.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Evaluate_NobodyHoldsData_TheFailedMemberIsElectedAgainEvenWhenAnotherRanksHigher()
    {
        // a's agent may already be running initdb on its old assignment (the probe raced the first files): electing b, ranked
        // higher by priority, would start a second data set beside a's.
        var policy = new GroupPolicy { Members = new Dictionary<string, MemberPolicy> { ["b"] = new() { Priority = 10 } } };
        var o = LeaseLapsed(Bootstrapped(dbUp: false), policy, false, Empty("b"), Empty("c"));
        Assert.Equal((PromotionVerdict.Promote, "a"), (o.Verdict, o.To));
    }

    [Fact]
    public void Evaluate_FailedPrimaryStillInitialising_DoesNotPromoteAnEmptyMember()
    {
        // initdb still running: a is neither up nor empty. Nobody may be promoted (b or c would start an empty second history).
        var initialising = Bootstrapped(dbUp: false) with { Bootstrappable = false };
        var o = LeaseLapsed(initialising, new GroupPolicy(), false, Empty("b"), Empty("c"));
        Assert.NotEqual(PromotionVerdict.Promote, o.Verdict);
    }

    [Theory]
    [InlineData(true, false, false)] // the lease is still alive: the primary may be renewed
    [InlineData(false, true, false)] // c did not answer: it might hold data
    [InlineData(false, false, true)] // c has data (a replica): the replicas' count decides
    public void Evaluate_SoleCopyNotProven_FallsBackToTheReplicasCount(bool leaseAlive, bool silent, bool cHasData)
    {
        var c = cHasData ? M("c", 24_000_000) with { Following = "127.0.0.1:7" } : Empty("c", answered: !silent);
        var o = LeaseLapsed(Bootstrapped() with { PrimaryOfEpoch = 0 }, new GroupPolicy { AckReplicas = 1 }, leaseAlive, Empty("b"), c);
        Assert.NotEqual(PromotionVerdict.Promote, o.Verdict);
    }
}
