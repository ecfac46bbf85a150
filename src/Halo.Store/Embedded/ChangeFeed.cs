using System.Threading.Channels;

namespace Halo.Store.Embedded;

/// <summary>
/// In-memory broadcast of committed changes to live watches. Publishing never blocks the writer:
/// a watcher whose buffer is full is marked overflowed and catches up from the on-disk log instead.
/// </summary>
internal sealed class ChangeFeed(int bufferSize)
{
    private readonly Lock _gate = new();
    private Subscription[] _subscriptions = [];
    private Exception? _completed;

    public Subscription Subscribe(string prefix)
    {
        var subscription = new Subscription(this, prefix, bufferSize);
        lock (_gate)
        {
            if (_completed is not null)
            {
                subscription.Complete(_completed);
            }
            else
            {
                _subscriptions = [.. _subscriptions, subscription];
            }
        }

        return subscription;
    }

    /// <summary>Called by the writer loop only, after commit, in log order.</summary>
    public void Publish(List<ChangeRecord> changes)
    {
        var subscriptions = Volatile.Read(ref _subscriptions);
        foreach (var subscription in subscriptions)
        {
            foreach (var change in changes)
            {
                subscription.Offer(change);
            }
        }
    }

    public void Complete(Exception reason)
    {
        Subscription[] subscriptions;
        lock (_gate)
        {
            _completed = reason;
            subscriptions = _subscriptions;
            _subscriptions = [];
        }

        foreach (var subscription in subscriptions)
        {
            subscription.Complete(reason);
        }
    }

    private void Remove(Subscription subscription)
    {
        lock (_gate)
        {
            _subscriptions = Array.FindAll(_subscriptions, s => !ReferenceEquals(s, subscription));
        }
    }

    /// <summary>One live watch's buffer.</summary>
    internal sealed class Subscription(ChangeFeed feed, string prefix, int capacity) : IDisposable
    {
        private readonly Channel<ChangeRecord> _channel = Channel.CreateBounded<ChangeRecord>(
            new BoundedChannelOptions(capacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        private volatile bool _overflowed;

        /// <summary>True once a change was dropped; the reader must re-read the log before trusting the buffer again.</summary>
        public bool Overflowed => _overflowed;

        public ChannelReader<ChangeRecord> Reader => _channel.Reader;

        /// <summary>
        /// Clears the overflow mark. The caller then re-reads the log: every change dropped so far was
        /// committed before it was dropped, so the log holds it; later changes arrive here again.
        /// </summary>
        public void ResetOverflow() => _overflowed = false;

        public void Offer(in ChangeRecord change)
        {
            // After a drop, stop buffering: anything kept after a gap would be delivered out of order.
            if (_overflowed || !change.Event.Item.Key.StartsWith(prefix, StringComparison.Ordinal))
            {
                return;
            }

            if (!_channel.Writer.TryWrite(change))
            {
                _overflowed = true;
            }
        }

        public void Complete(Exception reason) => _channel.Writer.TryComplete(reason);

        public void Dispose()
        {
            feed.Remove(this);
            _channel.Writer.TryComplete();
        }
    }
}
