using Halo.Core.Balancing;
using Microsoft.Extensions.Time.Testing;

namespace Halo.Core.Tests.Balancing;

public class HealthPrimitivesTests
{
    private static readonly OutlierOptions Options = new()
    {
        ConsecutiveFailures = 3,
        BaseEjectionTime = TimeSpan.FromSeconds(2),
        MaxEjectionTime = TimeSpan.FromSeconds(30),
    };

    [Fact]
    public void RecordFailure_BelowThreshold_NotEjected()
    {
        var detector = new OutlierDetector(Options, new FakeTimeProvider());

        Assert.Null(detector.RecordFailure(() => true));
        Assert.Null(detector.RecordFailure(() => true));

        Assert.False(detector.IsEjected);
    }

    [Fact]
    public void RecordFailure_SuccessInBetween_ResetsStreak()
    {
        var detector = new OutlierDetector(Options, new FakeTimeProvider());

        detector.RecordFailure(() => true);
        detector.RecordFailure(() => true);
        detector.RecordSuccess();
        detector.RecordFailure(() => true);

        Assert.False(detector.IsEjected);
    }

    [Fact]
    public void RecordFailure_RepeatEjections_BackOffExponentiallyUpToCap()
    {
        var time = new FakeTimeProvider();
        var detector = new OutlierDetector(Options, time);
        var lengths = new List<TimeSpan>();

        for (var round = 0; round < 6; round++)
        {
            TimeSpan? length = null;
            for (var i = 0; i < 3; i++)
            {
                length ??= detector.RecordFailure(() => true);
            }

            Assert.True(detector.IsEjected);
            lengths.Add(length!.Value);
            time.Advance(length.Value);
            Assert.False(detector.IsEjected);
        }

        Assert.Equal([2, 4, 8, 16, 30, 30], lengths.Select(l => l.TotalSeconds));
    }

    [Fact]
    public void RecordFailure_CapRefuses_NotEjected()
    {
        var detector = new OutlierDetector(Options, new FakeTimeProvider());

        for (var i = 0; i < 5; i++)
        {
            Assert.Null(detector.RecordFailure(() => false));
        }

        Assert.False(detector.IsEjected);
    }

    [Theory]
    [InlineData(0, 3, 50, true)]
    [InlineData(1, 3, 50, false)]
    [InlineData(1, 4, 50, true)]
    [InlineData(2, 4, 50, false)]
    [InlineData(0, 3, 0, true)]
    public void EjectionAllowed_PoolShare_CapsEjections(int ejected, int size, int percent, bool expected)
    {
        Assert.Equal(expected, OutlierDetector.EjectionAllowed(ejected, size, percent));
    }

    [Fact]
    public void TryAcquireRetry_RatioOfTraffic_CapsRetries()
    {
        var time = new FakeTimeProvider();
        var budget = new RetryBudget(ratio: 0.2, minPerSecond: 0, windowSeconds: 10, time);
        for (var i = 0; i < 100; i++)
        {
            budget.RecordRequest();
        }

        var granted = Enumerable.Range(0, 50).Count(_ => budget.TryAcquireRetry());

        Assert.Equal(20, granted);
    }

    [Fact]
    public void TryAcquireRetry_QuietService_FloorAllowsSome()
    {
        var budget = new RetryBudget(ratio: 0.2, minPerSecond: 1, windowSeconds: 10, new FakeTimeProvider());

        var granted = Enumerable.Range(0, 50).Count(_ => budget.TryAcquireRetry());

        Assert.Equal(10, granted);
    }

    [Fact]
    public void TryAcquireRetry_WindowPasses_BudgetRefills()
    {
        var time = new FakeTimeProvider();
        var budget = new RetryBudget(ratio: 0.1, minPerSecond: 0, windowSeconds: 5, time);
        for (var i = 0; i < 10; i++)
        {
            budget.RecordRequest();
        }

        Assert.True(budget.TryAcquireRetry());
        Assert.False(budget.TryAcquireRetry());

        time.Advance(TimeSpan.FromSeconds(6));
        for (var i = 0; i < 10; i++)
        {
            budget.RecordRequest();
        }

        Assert.True(budget.TryAcquireRetry());
    }

    [Theory]
    [InlineData(1.0, 0.0, 1.0, 0.0)]
    [InlineData(0.8, 1.0, 1.0, 0.0)]
    [InlineData(0.5, 1.0, 0.7, 0.3)]
    [InlineData(0.0, 1.0, 0.0, 1.0)]
    public void Shares_PrimaryDegrades_SpillsProportionally(double primary, double backup, double expected0, double expected1)
    {
        var shares = PoolLoad.Shares([primary, backup]);

        Assert.Equal(expected0, shares[0], 6);
        Assert.Equal(expected1, shares[1], 6);
    }

    [Fact]
    public void Shares_EverythingDegraded_NormalisedToOne()
    {
        var shares = PoolLoad.Shares([0.2, 0.2]);

        Assert.Equal(1, shares.Sum(), 6);
        Assert.Equal(0.5, shares[0], 6);
    }

    [Fact]
    public void Choose_PointAgainstShares_PicksPool()
    {
        Assert.Equal(0, PoolLoad.Choose([0.7, 0.3], 0.69));
        Assert.Equal(1, PoolLoad.Choose([0.7, 0.3], 0.71));
    }

    [Theory]
    [InlineData(0, 0.1)]
    [InlineData(5, 0.5)]
    [InlineData(10, 1.0)]
    [InlineData(20, 1.0)]
    public void Factor_WithinWindow_RampsLinearly(int seconds, double expected)
    {
        Assert.Equal(expected, SlowStart.Factor(TimeSpan.FromSeconds(seconds), TimeSpan.FromSeconds(10)), 6);
    }
}
