using Halo.Core.Balancing;
using Microsoft.Extensions.Time.Testing;

namespace Halo.Core.Tests.Balancing;

public class PeakEwmaTests
{
    [Fact]
    public void Observe_SlowerSample_JumpsToPeak()
    {
        var time = new FakeTimeProvider();
        var ewma = new PeakEwma(time, TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(5), TimeSpan.FromMilliseconds(500));

        ewma.Observe(TimeSpan.FromMilliseconds(200), failed: false);

        Assert.Equal(200, ewma.EstimateMs, 3);
    }

    [Fact]
    public void Observe_FasterSamplesOverTime_DecaysTowardThem()
    {
        var time = new FakeTimeProvider();
        var ewma = new PeakEwma(time, TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(5), TimeSpan.FromMilliseconds(500));
        ewma.Observe(TimeSpan.FromMilliseconds(200), failed: false);

        for (var i = 0; i < 50; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(100));
            ewma.Observe(TimeSpan.FromMilliseconds(10), failed: false);
        }

        Assert.InRange(ewma.EstimateMs, 10, 12);
    }

    [Fact]
    public void Observe_FastFailure_ChargedPenalty()
    {
        var time = new FakeTimeProvider();
        var ewma = new PeakEwma(time, TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(5), TimeSpan.FromMilliseconds(500));

        ewma.Observe(TimeSpan.FromMilliseconds(1), failed: true);

        Assert.Equal(500, ewma.EstimateMs, 3);
    }

    [Fact]
    public void EstimateMs_NoSamplesForLong_DecaysSoIdleDestinationIsRetried()
    {
        var time = new FakeTimeProvider();
        var ewma = new PeakEwma(time, TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(5), TimeSpan.FromMilliseconds(500));
        ewma.Observe(TimeSpan.FromMilliseconds(1000), failed: false);

        time.Advance(TimeSpan.FromSeconds(10));

        Assert.True(ewma.EstimateMs < 1);
    }

    [Fact]
    public void PeakEwmaPolicy_OneSlowBackend_GetsLittleTraffic()
    {
        var time = new FakeTimeProvider();
        var ds = Destinations.Make(time, 1, 1, 1);
        var policy = new PeakEwmaPolicy();
        var random = new Random(11);
        var counts = new Dictionary<string, int>();

        for (var i = 0; i < 3000; i++)
        {
            var d = policy.Pick(ds, new BalancingRequest(null, random))!;
            counts[d.Id] = counts.GetValueOrDefault(d.Id) + 1;
            // "c" turned slow: 200 ms against 5 ms for the others.
            d.Latency.Observe(TimeSpan.FromMilliseconds(d.Id == "c" ? 200 : 5), failed: false);
            time.Advance(TimeSpan.FromMilliseconds(2));
        }

        Assert.True(counts.GetValueOrDefault("c") < 3000 * 0.05, $"slow backend got {counts.GetValueOrDefault("c")} of 3000");
    }

    [Fact]
    public void PeakEwmaPolicy_FastFailingBackend_DoesNotLookCheap()
    {
        var time = new FakeTimeProvider();
        var ds = Destinations.Make(time, 1, 1);
        var policy = new PeakEwmaPolicy();
        var random = new Random(5);
        var failing = 0;

        for (var i = 0; i < 1000; i++)
        {
            var d = policy.Pick(ds, new BalancingRequest(null, random))!;
            var isFailing = d.Id == "a";
            failing += isFailing ? 1 : 0;
            // "a" answers 503 in 0.2 ms; "b" succeeds in 20 ms.
            d.Latency.Observe(TimeSpan.FromMilliseconds(isFailing ? 0.2 : 20), failed: isFailing);
            time.Advance(TimeSpan.FromMilliseconds(5));
        }

        Assert.True(failing < 100, $"failing backend got {failing} of 1000");
    }
}
