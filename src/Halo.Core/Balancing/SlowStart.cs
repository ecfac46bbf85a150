namespace Halo.Core.Balancing;

/// <summary>
/// Slow start: a destination that just joined or recovered gets a weight factor rising linearly from
/// <see cref="MinFactor"/> to 1 over the window, so warm-up (JIT, caches, pools) is not met with a full share.
/// </summary>
public static class SlowStart
{
    /// <summary>Smallest factor given at the start of the window.</summary>
    public const double MinFactor = 0.1;

    /// <summary>Weight factor after <paramref name="sinceHealthy"/> in a <paramref name="window"/> (zero window disables slow start).</summary>
    public static double Factor(TimeSpan sinceHealthy, TimeSpan window)
    {
        if (window <= TimeSpan.Zero || sinceHealthy >= window)
        {
            return 1;
        }

        return Math.Max(MinFactor, Math.Max(0, sinceHealthy.TotalMilliseconds) / window.TotalMilliseconds);
    }
}
