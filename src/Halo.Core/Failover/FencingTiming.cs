namespace Halo.Core.Failover;

/// <summary>
/// The timing that keeps a cut-off primary from overlapping its successor. The agent measures from the moment it SENT the
/// report that renewed its lease; the store renewed the lease after that moment, so the lease cannot expire (and no successor
/// can be elected) before send + TTL. The agent fences at send + <see cref="RenewDeadline"/> = send + TTL − margin, where the
/// margin covers clock-rate drift between the two hosts (≤ 0.1 %, generous for NTP-disciplined clocks) plus the time the
/// fencing command itself may take (<see cref="FenceCommandBudget"/>).
/// </summary>
public static class FencingTiming
{
    /// <summary>Longest the fencing command may take before the agent gives up on the database and kills it.</summary>
    public static TimeSpan FenceCommandBudget(TimeSpan ttl) => TimeSpan.FromTicks(Math.Min(ttl.Ticks / 8, TimeSpan.FromMilliseconds(250).Ticks));

    /// <summary>The margin subtracted from the TTL: a quarter of it, at least 300 ms; it always exceeds drift plus the fence budget.</summary>
    public static TimeSpan Margin(TimeSpan ttl) => TimeSpan.FromTicks(Math.Max(ttl.Ticks / 4, TimeSpan.FromMilliseconds(300).Ticks));

    /// <summary>How long after sending its last successful renewal a primary keeps accepting writes.</summary>
    public static TimeSpan RenewDeadline(TimeSpan ttl) => ttl - Margin(ttl);

    /// <summary>The documented bound: a primary cut off from the store stops accepting writes within this time after its last successful renewal was sent.</summary>
    public static TimeSpan DemotionBound(TimeSpan ttl) => RenewDeadline(ttl) + FenceCommandBudget(ttl);
}
