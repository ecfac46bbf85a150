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

    public long Global => Interlocked.Read(ref _global);

    /// <summary>Revision of the service's last change; the global revision at start for services that have not changed since.</summary>
    public long Get(string service) => _revisions.TryGetValue(service, out var rev) ? rev : Global;

    public void Bump(string service, long revision)
    {
        _revisions.AddOrUpdate(service, revision, (_, old) => Math.Max(old, revision));
        long current;
        while ((current = Interlocked.Read(ref _global)) < revision &&
               Interlocked.CompareExchange(ref _global, revision, current) != current)
        {
        }

        TaskCompletionSource fired;
        lock (_gate)
        {
            fired = _changed;
            _changed = NewSignal();
        }

        fired.TrySetResult();
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
