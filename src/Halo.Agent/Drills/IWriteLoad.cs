namespace Halo.Agent.Drills;

/// <summary>A closed loop of numbered writes through one address, and afterwards which acknowledged ones are missing.</summary>
public interface IWriteLoad
{
    long Attempted { get; }
    long Acked { get; }
    long Failed { get; }

    /// <summary>Time from the failure (a timestamp of the load's TimeProvider) to the first acknowledged write after it; null if none yet.</summary>
    TimeSpan? RecoveryAfter(long failedAt);

    /// <summary>Waits at most <paramref name="limit"/> for <see cref="RecoveryAfter"/> to have an answer; null if none came.</summary>
    Task<TimeSpan?> WaitRecoveryAsync(long failedAt, TimeSpan limit, CancellationToken ct);

    Task RunAsync(CancellationToken ct);

    Task<long> CountLostAsync(CancellationToken ct);
}
