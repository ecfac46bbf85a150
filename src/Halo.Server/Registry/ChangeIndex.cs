using System.Collections.Concurrent;

namespace Halo.Server.Registry;

/// <summary>
/// The last revision at which each service changed, and a way to wait for the next change.
/// Backs Consul-style blocking queries: a caller passes the index it has seen and is answered
/// as soon as the service moves past it, or when its wait runs out.
/// </summary>
internal sealed class ChangeIndex
{
    private readonly ConcurrentDictionary<string, long> _revisions = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private TaskCompletionSource _changed = NewSignal();
    private long _global;
    private long _followed;

    public long Global => Interlocked.Read(ref _global);

    /// <summary>The store revision up to which this server has applied the store's change feed.</summary>
    public long Followed => Interlocked.Read(ref _followed);

    /// <summary>Revision of the service's last change; the global revision at start for services that have not changed since.</summary>
    public long Get(string service) => _revisions.TryGetValue(service, out var rev) ? rev : Global;

    public void Bump(string service, long revision)
    {
        _revisions.AddOrUpdate(service, revision, (_, old) => Math.Max(old, revision));
        Raise(ref _global, revision);
        Signal();
    }

    private static void Raise(ref long field, long revision)
    {
        long current;
        while ((current = Interlocked.Read(ref field)) < revision &&
               Interlocked.CompareExchange(ref field, revision, current) != current)
        {
        }
    }

    private void Signal()
    {
        TaskCompletionSource fired;
        lock (_gate)
        {
            fired = _changed;
            _changed = NewSignal();
        }

        fired.TrySetResult();
    }

    /// <summary>Records that the change feed is applied up to <paramref name="revision"/>.</summary>
    public void AdvanceFollowed(long revision)
    {
        Raise(ref _followed, revision);
        Signal();
    }

    /// <summary>Waits until the feed is applied up to <paramref name="revision"/>, or <paramref name="wait"/> elapses; true when it is.</summary>
    public async Task<bool> WaitFollowedAsync(long revision, TimeSpan wait, TimeProvider time, CancellationToken cancellationToken)
    {
        if (Followed >= revision)
        {
            return true;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var deadline = Task.Delay(wait, time, timeout.Token);
        try
        {
            while (Followed < revision)
            {
                Task signal;
                lock (_gate)
                {
                    signal = _changed.Task;
                }

                if (Followed >= revision || await Task.WhenAny(signal, deadline).ConfigureAwait(false) == deadline)
                {
                    break;
                }
            }
        }
        finally
        {
            await timeout.CancelAsync().ConfigureAwait(false);
        }

        cancellationToken.ThrowIfCancellationRequested();
        return Followed >= revision;
    }

    /// <summary>Waits until <paramref name="service"/> has changed past <paramref name="index"/> or <paramref name="wait"/> elapses; returns the service's revision.</summary>
    public async Task<long> WaitAsync(string service, long index, TimeSpan wait, TimeProvider time, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var deadline = Task.Delay(wait, time, timeout.Token);
        try
        {
            while (Get(service) <= index)
            {
                Task signal;
                lock (_gate)
                {
                    signal = _changed.Task;
                }

                if (Get(service) > index)
                {
                    break;
                }

                if (await Task.WhenAny(signal, deadline).ConfigureAwait(false) == deadline)
                {
                    break;
                }
            }
        }
        finally
        {
            await timeout.CancelAsync().ConfigureAwait(false);
        }

        cancellationToken.ThrowIfCancellationRequested();
        return Get(service);
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
