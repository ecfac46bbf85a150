using Halo.Core.Balancing;
using Microsoft.Extensions.Time.Testing;

namespace Halo.Core.Tests.Balancing;

/// <summary>Builds destinations for policy tests.</summary>
internal static class Destinations
{
    public static BalancingDestination[] Make(TimeProvider time, params double[] weights) =>
        weights.Select((w, i) => new BalancingDestination(((char)('a' + i)).ToString(), w,
            new PeakEwma(time, TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(500)))).ToArray();

    public static BalancingDestination[] Make(params double[] weights) => Make(new FakeTimeProvider(), weights);

    public static BalancingDestination[] Named(int count) =>
        Enumerable.Range(0, count).Select(i => new BalancingDestination("10.0.0." + i + ":8080", 1,
            new PeakEwma(new FakeTimeProvider(), TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(500)))).ToArray();

    public static BalancingRequest Request(int seed = 1, string? key = null) => new(key, new Random(seed));
}
