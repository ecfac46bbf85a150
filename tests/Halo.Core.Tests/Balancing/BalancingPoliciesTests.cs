using Halo.Core.Balancing;

namespace Halo.Core.Tests.Balancing;

public sealed class BalancingPoliciesTests
{
    [Theory]
    [InlineData("round-robin", PolicyKind.RoundRobin, typeof(RoundRobinPolicy))]
    [InlineData("weighted-round-robin", PolicyKind.WeightedRoundRobin, typeof(SmoothWeightedRoundRobinPolicy))]
    [InlineData("least-requests", PolicyKind.LeastRequests, typeof(LeastRequestsPolicy))]
    [InlineData("p2c", PolicyKind.PowerOfTwoChoices, typeof(PowerOfTwoChoicesPolicy))]
    [InlineData("power-of-two-choices", PolicyKind.PowerOfTwoChoices, typeof(PowerOfTwoChoicesPolicy))]
    [InlineData("Peak-EWMA", PolicyKind.PeakEwma, typeof(PeakEwmaPolicy))]
    [InlineData("ewma", PolicyKind.PeakEwma, typeof(PeakEwmaPolicy))]
    [InlineData("consistent-hash", PolicyKind.ConsistentHash, typeof(ConsistentHashPolicy))]
    [InlineData("random", PolicyKind.Random, typeof(RandomPolicy))]
    public void TryParse_KnownName_CreatesThatPolicy(string name, PolicyKind kind, Type policy)
    {
        Assert.True(BalancingPolicies.TryParse(name, out var parsed));
        Assert.Equal(kind, parsed);
        Assert.IsType(policy, BalancingPolicies.Create(parsed));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("fastest")]
    [InlineData("round robin")]
    public void TryParse_UnknownName_False(string? name) => Assert.False(BalancingPolicies.TryParse(name, out _));

    [Fact]
    public void Names_ListsEveryKind()
    {
        var listed = BalancingPolicies.Names.Split(", ").Select(n => BalancingPolicies.TryParse(n, out var k) ? k : (PolicyKind?)null).ToHashSet();
        Assert.Equal(Enum.GetValues<PolicyKind>().Cast<PolicyKind?>().ToHashSet(), listed);
    }
}
