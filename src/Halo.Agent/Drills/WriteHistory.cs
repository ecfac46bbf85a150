namespace Halo.Agent.Drills;

/// <summary>
/// The outcome of every write of a load, in order, on the load's clock (a TimeProvider's timestamps): what recovery after a failure took. Shared by the
/// Redis and PostgreSQL write loads (drills, tests and benches).
/// </summary>
public sealed class WriteHistory(TimeProvider time)
{
    private readonly List<(long Start, long End, bool Ok)> _writes = [];

    public void Add(long start, long end, bool ok)
    {
        lock (_writes)
        {
            _writes.Add((start, end, ok));
        }
    }

    /// <summary>
    /// Time from <paramref name="failedAt"/> (a timestamp of the same clock, taken right after the failure was injected) to the end
    /// of the first acknowledged write that started after it and after a write that failed after it; null if none yet.
    /// </summary>
    public TimeSpan? RecoveryAfter(long failedAt)
    {
        lock (_writes)
        {
            var sawFailure = false;
            foreach (var (start, end, ok) in _writes)
            {
                if (end <= failedAt)
                {
                    continue;
                }

                if (!ok)
                {
                    sawFailure = true;
                }
                else if (sawFailure && start > failedAt)
                {
                    return time.GetElapsedTime(failedAt, end);
                }
            }
        }

        return null;
    }
}
