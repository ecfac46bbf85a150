using System.Runtime.ExceptionServices;

namespace Halo.Store.Etcd;

/// <summary>
/// Runs one etcd request inside its budget (<see cref="EtcdStoreOptions.RequestTimeout"/>), in attempts: a request that is
/// <see cref="EtcdRepeat.Safe"/> to repeat and has had no answer for <see cref="EtcdStoreOptions.AttemptTimeout"/> is sent
/// again (the balancer takes the next member), beside the first, and the first answer wins; a third replaces the oldest,
/// so at most two are in flight. An attempt that fails in a way <see cref="EtcdRetryPolicy"/> allows to repeat is repeated
/// after a short pause while the budget lasts.
/// </summary>
/// <remarks>
/// Why beside and not instead: etcd drops a proposal that a follower forwarded to a leader that died, and answers it only
/// when its own timeout (about 7 s) ends, so an attempt cut short and sent again gets through once the survivors have a
/// leader; but under a heavy load a healthy answer can also take a second or two, and cancelling that attempt would only
/// throw its progress away (etcd goes on with a cancelled request anyway). Keeping it costs etcd nothing more.
/// </remarks>
internal sealed class EtcdAttempts(TimeProvider time, TimeSpan budget, TimeSpan attemptTimeout)
{
    /// <summary>Attempts of one request in flight at once, at most.</summary>
    public const int MaxInFlight = 2;

    /// <summary>
    /// The answer of the first attempt that succeeds. Throws the failure that may not be repeated, or
    /// <see cref="StoreUnavailableException"/> when the budget ends first (with the last failure inside).
    /// </summary>
    /// <param name="attempt">One attempt, given the request's deadline (for gRPC) and a token that ends it.</param>
    public async Task<T> RunAsync<T>(Func<DateTime, CancellationToken, Task<T>> attempt, EtcdRepeat repeat, CancellationToken cancellationToken)
    {
        var end = time.GetUtcNow() + budget;
        var running = new List<(Task<T> Task, CancellationTokenSource Stop)>();
        DateTimeOffset? next = time.GetUtcNow();
        Exception? last = null;
        int attempts = 0, failures = 0;
        try
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var now = time.GetUtcNow();
                if (next is { } at && at <= now && now < end)
                {
                    Launch();
                    continue;
                }

                if (now >= end || running.Count == 0 && (next is null || next >= end))
                {
                    throw new StoreUnavailableException(
                        $"etcd did not answer within {budget.TotalSeconds:0.##} s ({attempts} attempt{(attempts == 1 ? "" : "s")}){(last is null ? "" : ": " + EtcdRetryPolicy.Describe(last))}", last);
                }

                using var wake = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                var wakeAt = next is { } n && n < end ? n : end;
                var timer = Task.Delay(wakeAt - now, time, wake.Token);
                var done = await Task.WhenAny(running.Select(r => (Task)r.Task).Append(timer)).ConfigureAwait(false);
                await wake.CancelAsync().ConfigureAwait(false);
                if (done == timer)
                {
                    continue;
                }

                var finished = running.First(r => r.Task == done);
                running.Remove(finished);
                finished.Stop.Dispose();
                if (finished.Task.IsCompletedSuccessfully)
                {
                    return finished.Task.Result;
                }

                cancellationToken.ThrowIfCancellationRequested();
                last = finished.Task.Exception?.InnerException ?? new OperationCanceledException("the etcd attempt was cancelled");
                if (!EtcdRetryPolicy.ShouldRepeat(repeat, EtcdRetryPolicy.Classify(last)))
                {
                    ExceptionDispatchInfo.Throw(last);
                }

                // Go again after a short pause, or sooner if a repetition was due anyway: while etcd elects a leader a member
                // answers "no leader" at once, and the attempt still in flight is most likely the one stuck on the dead
                // leader, so waiting for the attempt timeout would only waste the budget.
                var pause = time.GetUtcNow() + EtcdRetryPolicy.Backoff(++failures);
                next = next is { } planned && planned < pause ? planned : pause;
            }
        }
        finally
        {
            foreach (var (task, stop) in running)
            {
                stop.Cancel();
                stop.Dispose();
                Observe(task);
            }
        }

        void Launch()
        {
            if (running.Count == MaxInFlight)
            {
                var (oldest, stop) = running[0];
                running.RemoveAt(0);
                stop.Cancel();
                stop.Dispose();
                Observe(oldest);
            }

            var token = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            attempts++;
            running.Add((Start(attempt, end.UtcDateTime, token.Token), token));
            next = repeat == EtcdRepeat.Safe ? time.GetUtcNow() + attemptTimeout : null;
        }
    }

    // An attempt that throws synchronously still counts as a failed attempt, not as the runner's own failure.
    private static async Task<T> Start<T>(Func<DateTime, CancellationToken, Task<T>> attempt, DateTime deadline, CancellationToken token)
    {
        await Task.Yield();
        return await attempt(deadline, token).ConfigureAwait(false);
    }

    private static void Observe(Task task) =>
        _ = task.ContinueWith(static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
}
