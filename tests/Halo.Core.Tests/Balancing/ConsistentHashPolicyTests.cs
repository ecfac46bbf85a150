using Halo.Core.Balancing;

namespace Halo.Core.Tests.Balancing;

public class ConsistentHashPolicyTests
{
    [Fact]
    public void Pick_SameKey_SameDestinationEveryTime()
    {
        var ds = Destinations.Named(5);
        var policy = new ConsistentHashPolicy();

        var first = policy.Pick(ds, Destinations.Request(key: "user-42"));
        for (var i = 0; i < 100; i++)
        {
            Assert.Same(first, policy.Pick(ds, Destinations.Request(seed: i, key: "user-42")));
        }
    }

    [Fact]
    public void Pick_OneOfTenLeaves_MovesAboutOneTenthOfKeys()
    {
        var ds = Destinations.Named(10);
        var fewer = ds.Where(d => d.Id != ds[3].Id).ToArray();
        var policy = new ConsistentHashPolicy();
        var keys = Enumerable.Range(0, 10_000).Select(i => "key-" + i).ToList();

        var before = keys.ToDictionary(k => k, k => policy.Pick(ds, Destinations.Request(key: k))!.Id);
        var after = keys.ToDictionary(k => k, k => policy.Pick(fewer, Destinations.Request(key: k))!.Id);

        var moved = keys.Count(k => before[k] != after[k]);
        // Only keys that lived on the removed destination move: about 1/10, never others.
        Assert.All(keys.Where(k => before[k] != after[k]), k => Assert.Equal(ds[3].Id, before[k]));
        Assert.InRange(moved, 600, 1500);
    }

    [Fact]
    public void Pick_KeysSpread_EachDestinationGetsAShare()
    {
        var ds = Destinations.Named(4);
        var policy = new ConsistentHashPolicy();

        var counts = Enumerable.Range(0, 8000).GroupBy(i => policy.Pick(ds, Destinations.Request(key: "k" + i))!.Id)
            .ToDictionary(g => g.Key, g => g.Count());

        Assert.Equal(4, counts.Count);
        Assert.All(counts.Values, c => Assert.InRange(c, 1200, 2800));
    }

    [Fact]
    public void Pick_HotKeyWithBoundedLoad_EveryDestinationUnderOnePlusEpsilonTimesMean()
    {
        var ds = Destinations.Named(5);
        var policy = new ConsistentHashPolicy(loadFactor: 1.25);
        var random = new Random(9);

        // Half the requests carry one hot key; none complete, so in-flight is the load.
        for (var i = 0; i < 1000; i++)
        {
            var key = random.Next(2) == 0 ? "hot" : "k" + random.Next(100_000);
            policy.Pick(ds, new BalancingRequest(key, random))!.Begin();
        }

        var mean = ds.Average(d => d.InFlight);
        Assert.All(ds, d => Assert.True(d.InFlight <= Math.Ceiling(1.25 * mean), $"{d.Id} has {d.InFlight}, mean {mean}"));
    }

    [Fact]
    public void Pick_HotKeyWithoutBound_OverloadsOneDestination()
    {
        var ds = Destinations.Named(5);
        var policy = new ConsistentHashPolicy(loadFactor: 0);

        for (var i = 0; i < 100; i++)
        {
            policy.Pick(ds, Destinations.Request(key: "hot"))!.Begin();
        }

        Assert.Equal(100, ds.Max(d => d.InFlight));
    }

    [Fact]
    public void Ctor_LoadFactorBelowOne_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new ConsistentHashPolicy(loadFactor: 0.5));
    }
}
