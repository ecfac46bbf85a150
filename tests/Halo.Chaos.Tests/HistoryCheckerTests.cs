using Halo.Chaos;
using Halo.Core.Availability;

namespace Halo.Chaos.Tests;

/// <summary>The checker must be able to fail: each defect fed on purpose is reported, and a clean history is clean.</summary>
public sealed class HistoryCheckerTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

    private static DateTimeOffset At(int ms) => T0.AddMilliseconds(ms);

    private static WriteRecord W(long id, string member, int start, int end, WriteOutcome outcome = WriteOutcome.Acked) =>
        new(id, 0, member, At(start), At(end), outcome);

    private static readonly EpochRecord[] Epochs = [new(1, "r1", At(0)), new(2, "r2", At(1000))];

    [Fact]
    public void Check_CleanFailover_NoDefect()
    {
        WriteRecord[] writes = [W(1, "r1", 10, 20), W(2, "r1", 900, 950), W(3, "r1", 960, 2000, WriteOutcome.Indeterminate), W(4, "r2", 1100, 1150), W(5, "r1", 1200, 1210, WriteOutcome.Failed)];
        var result = HistoryChecker.Check(writes, Epochs, new HashSet<long> { 1, 2, 4 });
        Assert.True(result.Clean, string.Join("; ", result.Lost.Concat(result.SplitBrains).Concat(result.Unexpected).Select(d => d.Detail)));
    }

    [Fact]
    public void Check_AcknowledgedWriteMissing_Lost()
    {
        var result = HistoryChecker.Check([W(1, "r1", 10, 20), W(2, "r1", 30, 40)], Epochs, new HashSet<long> { 1 });
        Assert.Equal("write 2", Assert.Single(result.Lost).Detail[..7]);
    }

    [Fact]
    public void Check_RefusedWritePresent_Unexpected()
    {
        var result = HistoryChecker.Check([W(1, "r1", 10, 20, WriteOutcome.Failed), W(2, "r1", 30, 40, WriteOutcome.Indeterminate)], Epochs, new HashSet<long> { 1, 2 });
        Assert.Single(result.Unexpected);
        Assert.Empty(result.Lost);
    }

    [Fact]
    public void Check_OldPrimaryAcknowledgesAWriteSentAfterTheNewOneDid_SplitBrain()
    {
        WriteRecord[] writes = [W(1, "r2", 1100, 1150), W(2, "r1", 1200, 1210)];
        var result = HistoryChecker.Check(writes, Epochs, new HashSet<long> { 1, 2 });
        Assert.Contains("write 2", Assert.Single(result.SplitBrains).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_AnswerOfTheOldPrimaryArrivingLate_NotASplitBrain()
    {
        // Sent before the new primary answered anything, answered after: a slow answer, not two primaries at once.
        WriteRecord[] writes = [W(1, "r1", 990, 1300), W(2, "r2", 1100, 1150)];
        Assert.True(HistoryChecker.Check(writes, Epochs, new HashSet<long> { 1, 2 }).Clean);
    }

    [Fact]
    public void Check_AcknowledgedByAMemberThatWasNeverPrimary_SplitBrain()
    {
        var result = HistoryChecker.Check([W(1, "r3", 10, 20)], Epochs, new HashSet<long> { 1 });
        Assert.Contains("not primary of any epoch", Assert.Single(result.SplitBrains).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Outage_RefusedThenAcknowledged_MeasuredFromTheInjection()
    {
        WriteRecord[] writes = [W(1, "r1", 0, 5), W(2, "r1", 100, 150, WriteOutcome.Failed), W(3, "r2", 160, 300), W(4, "r2", 400, 410)];
        Assert.Equal(TimeSpan.FromMilliseconds(290), ChaosRun.Outage(writes, At(10)));
        Assert.Null(ChaosRun.Outage([W(1, "r1", 0, 5), W(2, "r1", 20, 30)], At(10)));
    }

    [Fact]
    public void Schedule_TwentyTrials_EveryKindAtLeastTwiceAndTheSameForTheSameSeed()
    {
        var kinds = Enum.GetValues<FaultKind>();
        var schedule = ChaosRun.Schedule(new Random(1010), kinds, 20);
        Assert.All(kinds, k => Assert.True(schedule.Take(20).Count(s => s == k) >= 2, $"{k} fewer than twice"));
        Assert.Equal(schedule, ChaosRun.Schedule(new Random(1010), kinds, 20));
    }
}
