namespace Halo.Gateway.Proxy.Http1;

/// <summary>
/// A small number for the current thread, the same for the thread's life. With inline socket completions the fast
/// path runs on the socket event threads (one per CPU), so the lane of the thread a backend connection's reads complete
/// on names that connection's event thread, and the lane of the thread serving a request names the client's. Pooling
/// backend connections by lane lets a request reuse a connection served by its own event thread, so the backend's
/// answer wakes the thread that is already handling the client (HAProxy keeps idle server connections per thread for
/// the same reason) instead of the other CPU's.
/// </summary>
internal static class EventLoopLane
{
    /// <summary>How many lanes there are: one per CPU (the runtime's event-thread count with inline completions), at most 64.</summary>
    public static readonly int Count = Math.Clamp(Environment.ProcessorCount, 1, 64);

    [ThreadStatic]
    private static int t_lanePlusOne;
    private static int s_assigned;

    /// <summary>The current thread's lane, in [0, <see cref="Count"/>); threads get lanes round robin on first use.</summary>
    public static int Current
    {
        get
        {
            var l = t_lanePlusOne;
            if (l == 0)
            {
                l = t_lanePlusOne = ((Interlocked.Increment(ref s_assigned) - 1) & int.MaxValue) % Count + 1;
            }

            return l - 1;
        }
    }
}
