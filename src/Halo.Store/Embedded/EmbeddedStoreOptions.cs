namespace Halo.Store;

/// <summary>Tuning for <see cref="EmbeddedStore"/>. Validated when the store opens.</summary>
public sealed class EmbeddedStoreOptions
{
    /// <summary>
    /// How many revisions of change history watches can replay. Default 100,000; at least 1.
    /// Older history is compacted; a watch from before it throws <see cref="RevisionCompactedException"/>.
    /// </summary>
    public long HistoryRetention { get; set; } = 100_000;

    /// <summary>Most mutations committed in one transaction (one fsync). Default 1,024; 1 to 65,536.</summary>
    public int MaxBatchSize { get; set; } = 1024;

    /// <summary>How often expired leases are looked for. Default 250 ms; 10 ms to 10 s.</summary>
    public TimeSpan LeaseCheckInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Live events buffered per watcher before it falls back to re-reading history from disk.
    /// Default 4,096; 16 to 1,048,576. A slow watcher never blocks writers.
    /// </summary>
    public int WatchBufferSize { get; set; } = 4096;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first out-of-range option.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(HistoryRetention, 1, nameof(HistoryRetention));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxBatchSize, 1, nameof(MaxBatchSize));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxBatchSize, 65_536, nameof(MaxBatchSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(LeaseCheckInterval, TimeSpan.FromMilliseconds(10), nameof(LeaseCheckInterval));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(LeaseCheckInterval, TimeSpan.FromSeconds(10), nameof(LeaseCheckInterval));
        ArgumentOutOfRangeException.ThrowIfLessThan(WatchBufferSize, 16, nameof(WatchBufferSize));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(WatchBufferSize, 1_048_576, nameof(WatchBufferSize));
    }
}
