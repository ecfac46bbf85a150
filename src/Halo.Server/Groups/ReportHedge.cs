namespace Halo.Server.Groups;

/// <summary>
/// How a server answers a report it forwards to the group's decider (docs/ha.md, "The primary's lease does not depend on the
/// decider"): the decider's answer if it comes quickly; if it has not come within <see cref="StoreAfter"/>, the answer from the
/// store is started beside the forward, and the decider's answer still wins if it comes within the forward's own bound. A
/// decider that died but whose port does not refuse yet (a killed process still being torn down, a frozen machine) then costs
/// the primary's renewal the hedge delay, not the whole forward timeout before the store is even asked.
/// </summary>
internal static class ReportHedge
{
    /// <summary>How long a forwarded report waits for the decider before the store is asked too. A live decider answers in milliseconds.</summary>
    public static readonly TimeSpan StoreAfter = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Runs <paramref name="forward"/> (bounded by its own timeout; null when the decider did not answer) and, when it has not
    /// answered within <paramref name="storeAfter"/> or failed sooner, <paramref name="fromStore"/> beside it. Returns the
    /// forward's answer when it has one, else the store's (never both). The store's answer is cancelled when the forward's is used.
    /// </summary>
    public static async Task<(TDecided? Decided, TStored? Stored)> RunAsync<TDecided, TStored>(
        Task<TDecided?> forward, Func<CancellationToken, Task<TStored?>> fromStore, TimeSpan storeAfter, TimeProvider time, CancellationToken ct)
        where TDecided : class
        where TStored : class
    {
        using var hedge = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var delay = Task.Delay(storeAfter, time, hedge.Token);
        if (await Task.WhenAny(forward, delay).ConfigureAwait(false) == forward && await forward.ConfigureAwait(false) is { } quick)
        {
            await hedge.CancelAsync().ConfigureAwait(false);
            return (quick, null);
        }

        var store = fromStore(hedge.Token);
        if (await forward.ConfigureAwait(false) is { } answered)
        {
            await hedge.CancelAsync().ConfigureAwait(false);
            // The store's answer is thrown away; observe its end (a cancellation or a store error) so it is not left unobserved.
            _ = store.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            return (answered, null);
        }

        return (null, await store.ConfigureAwait(false));
    }
}
