using Halo.Core.Failover;
using Microsoft.Extensions.Time.Testing;

namespace Halo.Core.Tests.Failover;

public sealed class FailsafeTests
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(2);
    private readonly FakeTimeProvider _time = new() { AutoAdvanceAmount = TimeSpan.Zero };

    [Fact]
    public void Timing_PrimaryStopsRelyingBeforeTheReplicaIsReleased_WithDriftAndTheFenceCommand()
    {
        foreach (var seconds in new[] { 1, 2, 5, 30 })
        {
            var ttl = TimeSpan.FromSeconds(seconds);
            // The primary relies from its send, the replica is bound from its receipt (later): the primary's reliance plus the
            // fencing command must end before the replica's promise even if the primary's clock runs 0.1 % slow and the replica's fast.
            var primaryEnd = (FailsafeTiming.RelyFor(ttl) + FencingTiming.FenceCommandBudget(ttl)) * 1.001;
            var replicaEnd = FailsafeTiming.PromiseTtl(ttl) * 0.999;
            Assert.True(primaryEnd < replicaEnd, $"ttl {seconds}s: {primaryEnd} vs {replicaEnd}");
            Assert.True(FailsafeTiming.AskAfter(ttl) < FencingTiming.RenewDeadline(ttl), "asks before the renew deadline");
        }
    }

    [Fact]
    public void Hold_NewAgent_BoundForOnePromiseTtl()
    {
        var hold = new FailsafeHold(_time, Ttl);
        Assert.True(hold.Holding);
        _time.Advance(Ttl - TimeSpan.FromMilliseconds(1));
        Assert.True(hold.Holding);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.False(hold.Holding);
    }

    [Fact]
    public void Hold_Promise_BindsFromNowAndNeverShortens()
    {
        var hold = new FailsafeHold(_time, Ttl);
        _time.Advance(TimeSpan.FromSeconds(1));
        hold.Promise(Ttl);
        _time.Advance(TimeSpan.FromSeconds(1.5));
        Assert.True(hold.Holding);
        hold.Promise(TimeSpan.FromMilliseconds(100)); // a shorter promise does not cut the longer one
        _time.Advance(TimeSpan.FromSeconds(0.4));
        Assert.True(hold.Holding);
        _time.Advance(TimeSpan.FromSeconds(0.1));
        Assert.False(hold.Holding);
    }

    [Fact]
    public void Ledger_CoversOnlyWhenEveryRequiredMemberPromisedRecently()
    {
        var ledger = new FailsafeLedger(_time);
        var sent = _time.GetTimestamp();
        ledger.Record("r2", 3, sent);
        Assert.False(ledger.Covers(["r2", "r3"], 3, Ttl));
        ledger.Record("r3", 3, sent);
        Assert.True(ledger.Covers(["r2", "r3"], 3, Ttl));
        Assert.False(ledger.Covers(["r2", "r3"], 4, Ttl)); // another epoch's promises count for nothing

        _time.Advance(FailsafeTiming.RelyFor(Ttl) - TimeSpan.FromMilliseconds(1));
        Assert.True(ledger.Covers(["r2", "r3"], 3, Ttl));
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.False(ledger.Covers(["r2", "r3"], 3, Ttl)); // counted from the send, not from the answer
    }

    [Fact]
    public void Ledger_NewEpochOrClear_ForgetsEveryPromise()
    {
        var ledger = new FailsafeLedger(_time);
        ledger.Record("r2", 3, _time.GetTimestamp());
        ledger.Record("r3", 4, _time.GetTimestamp());
        Assert.False(ledger.Covers(["r2"], 4, Ttl));
        Assert.True(ledger.Covers(["r3"], 4, Ttl));
        ledger.Clear();
        Assert.False(ledger.Covers(["r3"], 4, Ttl));
    }

    [Fact]
    public void Ledger_NoMembersToAsk_CoversOnlyAnEpoch()
    {
        var ledger = new FailsafeLedger(_time);
        Assert.False(ledger.Covers([], 0, Ttl));
    }

    [Fact]
    public void Record_Grow_OnlyGrowsWithinAnEpochAndRestartsWithTheNext()
    {
        var first = FailsafeRecord.Grow(null, 2, ["r2"])!;
        Assert.Equal(["r2"], first.Members);
        Assert.Null(FailsafeRecord.Grow(first, 2, ["r2"]));
        Assert.Null(FailsafeRecord.Grow(first, 2, []));
        var grown = FailsafeRecord.Grow(first, 2, ["r3"])!;
        Assert.Equal(["r2", "r3"], grown.Members);
        var next = FailsafeRecord.Grow(grown, 3, ["r1"])!;
        Assert.Equal(3, next.Epoch);
        Assert.Equal(["r1"], next.Members);
    }
}
