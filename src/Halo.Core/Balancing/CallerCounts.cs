namespace Halo.Core.Balancing;

/// <summary>How an attempt failed, from the caller's point of view.</summary>
public enum FailureKind
{
    /// <summary>No failure.</summary>
    None,
    /// <summary>Could not connect, or the connection was reset before a response.</summary>
    Connect,
    /// <summary>No response within the per-try timeout.</summary>
    Timeout,
    /// <summary>The destination answered 5xx.</summary>
    ServerError,
}

/// <summary>Counts of attempts and failures over a report window.</summary>
public readonly record struct FailureCounts(long Requests, long Failures, long ConnectFailures, long Timeouts, long ServerErrors);

/// <summary>
/// One caller's attempts on one destination since its last caller report (the gateway and discovery clients both
/// count this way, so the server judges their reports alike). Lock-free; safe for concurrent callers.
/// </summary>
public sealed class CallerCounts
{
    private long _requests, _failures, _connectFailures, _timeouts, _serverErrors;

    /// <summary>Counts an attempt and its failure kind.</summary>
    public void Count(FailureKind kind)
    {
        Interlocked.Increment(ref _requests);
        switch (kind)
        {
            case FailureKind.None:
                return;
            case FailureKind.Connect:
                Interlocked.Increment(ref _connectFailures);
                break;
            case FailureKind.Timeout:
                Interlocked.Increment(ref _timeouts);
                break;
            case FailureKind.ServerError:
                Interlocked.Increment(ref _serverErrors);
                break;
        }

        Interlocked.Increment(ref _failures);
    }

    /// <summary>Takes and resets the counts since the last call.</summary>
    public FailureCounts Take() => new(
        Interlocked.Exchange(ref _requests, 0), Interlocked.Exchange(ref _failures, 0),
        Interlocked.Exchange(ref _connectFailures, 0), Interlocked.Exchange(ref _timeouts, 0), Interlocked.Exchange(ref _serverErrors, 0));
}
