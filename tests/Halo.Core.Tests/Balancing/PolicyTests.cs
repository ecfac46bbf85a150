using Halo.Core.Balancing;

namespace Halo.Core.Tests.Balancing;

public class PolicyTests
{
    [Fact]
    public void SmoothWeightedRoundRobin_Weights511_YieldsNginxInterleaving()
    {
        var ds = Destinations.Make(5, 1, 1);
        var policy = new SmoothWeightedRoundRobinPolicy();
        var request = Destinations.Request();

        var sequence = string.Concat(Enumerable.Range(0, 14).Select(_ => policy.Pick(ds, request)!.Id));

        Assert.Equal("aabacaaaabacaa", sequence);
    }

    [Fact]
    public void SmoothWeightedRoundRobin_SlowStartFactor_ReducesShare()
    {
        var ds = Destinations.Make(1, 1);
        ds[1].WeightFactor = 0.25;
        var policy = new SmoothWeightedRoundRobinPolicy();

        var picks = Enumerable.Range(0, 100).Select(_ => policy.Pick(ds, Destinations.Request())!.Id).ToList();

        Assert.Equal(80, picks.Count(p => p == "a"));
    }

    [Fact]
    public void RoundRobin_ThreeDestinations_CyclesInOrder()
    {
        var ds = Destinations.Make(1, 1, 1);
        var policy = new RoundRobinPolicy();

        var sequence = string.Concat(Enumerable.Range(0, 6).Select(_ => policy.Pick(ds, Destinations.Request())!.Id));

        Assert.Equal("abcabc", sequence);
    }

    [Fact]
    public void AnyPolicy_NoCandidates_ReturnsNull()
    {
        IBalancingPolicy[] policies = [new RoundRobinPolicy(), new SmoothWeightedRoundRobinPolicy(), new LeastRequestsPolicy(),
            new PowerOfTwoChoicesPolicy(), new PeakEwmaPolicy(), new ConsistentHashPolicy(), new RandomPolicy()];

        foreach (var p in policies)
        {
            Assert.Null(p.Pick([], Destinations.Request()));
        }
    }

    [Fact]
    public void AnyPolicy_OneCandidate_ReturnsIt()
    {
        var ds = Destinations.Make(1);
        IBalancingPolicy[] policies = [new RoundRobinPolicy(), new SmoothWeightedRoundRobinPolicy(), new LeastRequestsPolicy(),
            new PowerOfTwoChoicesPolicy(), new PeakEwmaPolicy(), new ConsistentHashPolicy(), new RandomPolicy()];

        foreach (var p in policies)
        {
            Assert.Same(ds[0], p.Pick(ds, Destinations.Request(key: "k")));
        }
    }

    [Fact]
    public void LeastRequests_UnequalLoad_PicksLeastLoaded()
    {
        var ds = Destinations.Make(1, 1, 1);
        ds[0].Begin(); ds[0].Begin(); ds[2].Begin();
        var policy = new LeastRequestsPolicy();

        for (var i = 0; i < 5; i++)
        {
            Assert.Equal("b", policy.Pick(ds, Destinations.Request())!.Id);
        }
    }

    [Fact]
    public void LeastRequests_AllIdle_SpreadsAcrossDestinations()
    {
        var ds = Destinations.Make(1, 1, 1);
        var policy = new LeastRequestsPolicy();

        var ids = Enumerable.Range(0, 3).Select(_ => policy.Pick(ds, Destinations.Request())!.Id).ToHashSet();

        Assert.Equal(3, ids.Count);
    }

    [Fact]
    public void LeastRequests_Weighted_DividesLoadByWeight()
    {
        var ds = Destinations.Make(4, 1);
        ds[0].Begin(); ds[0].Begin(); ds[0].Begin(); // (3+1)/4 = 1 < (0+1)/1 = 1? tie → second check below
        ds[0].Begin(); // (4+1)/4 = 1.25 > 1
        var policy = new LeastRequestsPolicy();

        Assert.Equal("b", policy.Pick(ds, Destinations.Request())!.Id);
    }

    [Fact]
    public void PowerOfTwoChoices_OneBusyDestination_NeverPicksItWhenAlternativeSampled()
    {
        var ds = Destinations.Make(1, 1);
        for (var i = 0; i < 10; i++)
        {
            ds[0].Begin();
        }

        var policy = new PowerOfTwoChoicesPolicy();
        var random = new Random(7);

        for (var i = 0; i < 50; i++)
        {
            Assert.Equal("b", policy.Pick(ds, new BalancingRequest(null, random))!.Id);
        }
    }

    [Fact]
    public void PowerOfTwoChoices_ThreeBusyLevels_MostLoadedNeverChosen()
    {
        var ds = Destinations.Make(1, 1, 1);
        ds[0].Begin(); ds[0].Begin(); ds[1].Begin();
        var policy = new PowerOfTwoChoicesPolicy();
        var random = new Random(3);

        var picks = Enumerable.Range(0, 300).Select(_ => policy.Pick(ds, new BalancingRequest(null, random))!.Id).ToList();

        Assert.DoesNotContain("a", picks);
        Assert.True(picks.Count(p => p == "c") > picks.Count(p => p == "b"));
    }

    [Fact]
    public void Random_Weights31_SplitsRoughlyThreeToOne()
    {
        var ds = Destinations.Make(3, 1);
        var policy = new RandomPolicy();
        var random = new Random(42);

        var a = Enumerable.Range(0, 4000).Count(_ => policy.Pick(ds, new BalancingRequest(null, random))!.Id == "a");

        Assert.InRange(a, 2800, 3200);
    }
}
