namespace Halo.Core;

/// <summary>
/// A cancellation token that fires when the caller's token does or when <c>timeout</c> has passed on an injected clock.
/// The one way to bound a wait in Halo: <c>CancelAfter</c>, <c>new CancellationTokenSource(TimeSpan)</c> and timed
/// <c>SemaphoreSlim.WaitAsync</c> run on the real clock and are banned (BannedSymbols.txt), because fault timing under a
/// fake clock is exactly what the tests must be able to drive.
/// </summary>
public sealed class Deadline : IDisposable
{
    private readonly CancellationTokenSource _timeout;
    private readonly CancellationTokenSource _linked;

    public Deadline(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(time);
        _timeout = new CancellationTokenSource(timeout, time);
        _linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _timeout.Token);
    }

    public CancellationToken Token => _linked.Token;

    /// <summary>True once the timeout (not the caller) has cancelled <see cref="Token"/>.</summary>
    public bool Expired => _timeout.IsCancellationRequested;

    public void Dispose()
    {
        _linked.Dispose();
        _timeout.Dispose();
    }
}

/// <summary>Timed waits on an injected clock.</summary>
public static class TimedWaits
{
    /// <summary>Waits for the semaphore at most <paramref name="timeout"/> on <paramref name="time"/>'s clock; false when it timed out.</summary>
    public static async Task<bool> WaitAsync(this SemaphoreSlim semaphore, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(semaphore);
        using var deadline = new Deadline(timeout, time, cancellationToken);
        try
        {
            await semaphore.WaitAsync(deadline.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (deadline.Expired && !cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }
}
