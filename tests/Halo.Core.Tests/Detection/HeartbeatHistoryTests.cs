using Halo.Core.Detection;

namespace Halo.Core.Tests.Detection;

public class HeartbeatHistoryTests
{
    private static readonly DateTimeOffset T0 = DetectionSimulation.Start;

    [Fact]
    public void Add_StaleOrDuplicate_IsIgnored()
    {
        var history = new HeartbeatHistory(T0, 10);
        Assert.True(history.Add(T0.AddSeconds(2)));
        Assert.False(history.Add(T0.AddSeconds(2)));
        Assert.False(history.Add(T0.AddSeconds(1)));
        Assert.Equal(T0.AddSeconds(2), history.LastHeartbeat);
        Assert.Equal(0, history.SampleCount);
    }

    [Fact]
    public void Add_MoreThanWindow_KeepsOnlyRecentSamples()
    {
        var history = new HeartbeatHistory(T0, 3);
        var t = T0;
        foreach (var gap in new[] { 0, 100, 100, 100, 400, 400, 400 })
        {
            t = t.AddMilliseconds(gap);
            history.Add(t);
        }

        Assert.Equal(3, history.SampleCount);
        Assert.Equal(400, history.MeanMilliseconds, 9);
        Assert.Equal(0, history.StdDeviationMilliseconds, 6);
    }

    [Fact]
    public void Statistics_ManyLaps_StayExact()
    {
        var history = new HeartbeatHistory(T0, 7);
        var t = T0;
        history.Add(t);
        for (var i = 0; i < 100_000; i++)
        {
            t = t.AddMilliseconds(i % 2 == 0 ? 900 : 1100);
            history.Add(t);
        }

        // The last 7 gaps alternate 1100/900 (4 of one, 3 of the other).
        var expected = new[] { 1100.0, 900, 1100, 900, 1100, 900, 1100 };
        var mean = expected.Average();
        Assert.Equal(mean, history.MeanMilliseconds, 6);
        Assert.Equal(Math.Sqrt(expected.Select(x => (x - mean) * (x - mean)).Average()), history.StdDeviationMilliseconds, 6);
    }

    [Fact]
    public void Reference_BeforeFirstHeartbeat_IsRegistration()
    {
        var history = new HeartbeatHistory(T0, 0);
        Assert.Equal(T0, history.Reference);
        history.Add(T0.AddSeconds(3));
        Assert.Equal(T0.AddSeconds(3), history.Reference);
        Assert.Equal(0, history.SampleCount);
    }
}
