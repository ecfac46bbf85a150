using Halo.Server.Groups;
using Microsoft.Extensions.Time.Testing;

namespace Halo.Server.Tests.Groups;

/// <summary>
/// A report forwarded to its decider: the decider's answer when it comes, the store asked beside it only once the decider is
/// slow, and the store's answer used only when the decider gives none. Fake clock: every step of the hedge is placed exactly.
/// </summary>
public sealed class ReportHedgeTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private readonly FakeTimeProvider _time = new() { AutoAdvanceAmount = TimeSpan.Zero };
    private readonly TaskCompletionSource<string?> _decider = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<string?> _store = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _storeAsked;
    private CancellationToken _storeToken;

    private Task<(string? Decided, string? Stored)> RunAsync() => ReportHedge.RunAsync(_decider.Task, ct =>
    {
        Interlocked.Increment(ref _storeAsked);
        _storeToken = ct;
        return _store.Task;
    }, ReportHedge.StoreAfter, _time, CancellationToken.None);

    /// <summary>Waits (bounded, real time: the hedge's continuation runs on the thread pool) until the store was asked once.</summary>
    private async Task StoreAskedAsync()
    {
        for (var i = 0; i < 1000 && Volatile.Read(ref _storeAsked) == 0; i++)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(10), TimeProvider.System);
        }

        Assert.Equal(1, Volatile.Read(ref _storeAsked));
    }

    [Fact]
    public async Task Run_TheDeciderAnswersQuickly_TheStoreIsNeverAsked()
    {
        var run = RunAsync();
        _time.Advance(ReportHedge.StoreAfter / 2);
        _decider.SetResult("decider");

        Assert.Equal(("decider", null), await run.WaitAsync(Bound, TimeProvider.System));
        _time.Advance(ReportHedge.StoreAfter);
        Assert.Equal(0, _storeAsked);
    }

    [Fact]
    public async Task Run_TheDeciderIsSlowButAnswers_TheStoreIsAskedBesideAndItsAnswerCancelled()
    {
        var run = RunAsync();
        _time.Advance(ReportHedge.StoreAfter - TimeSpan.FromMilliseconds(1));
        Assert.Equal(0, _storeAsked);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        await StoreAskedAsync();
        Assert.False(run.IsCompleted);

        // The store answers first; the decider's answer, coming within the forward's bound, still wins.
        _store.SetResult("store");
        Assert.False(run.IsCompleted);
        _decider.SetResult("decider");
        Assert.Equal(("decider", null), await run.WaitAsync(Bound, TimeProvider.System));
        Assert.True(_storeToken.IsCancellationRequested);
    }

    [Fact]
    public async Task Run_TheDeciderGivesNoAnswer_TheStoresAnswerIsUsed()
    {
        var run = RunAsync();
        _time.Advance(ReportHedge.StoreAfter);
        await StoreAskedAsync();
        _decider.SetResult(null); // the forward timed out
        _store.SetResult("store");

        Assert.Equal((null, "store"), await run.WaitAsync(Bound, TimeProvider.System));
    }

    [Fact]
    public async Task Run_TheDeciderRefusesAtOnce_TheStoreIsAskedWithoutWaitingForTheDelay()
    {
        _decider.SetResult(null); // connection refused: the forward ends before the hedge delay
        var run = RunAsync();
        await StoreAskedAsync();
        _store.SetResult("store");

        Assert.Equal((null, "store"), await run.WaitAsync(Bound, TimeProvider.System));
    }
}
