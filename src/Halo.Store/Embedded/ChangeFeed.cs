using System.Threading.Channels;

namespace Halo.Store.Embedded;

/// <summary>
/// In-memory broadcast of committed changes to live watches. Publishing never blocks the writer:
/// a watcher whose buffer is full is marked overflowed and catches up from the on-disk log instead.
/// </summary>
internal sealed class ChangeFeed(int bufferSize)
{
    private readonly Lock _gate = new();

    // Watches grouped by prefix: the writer matches each change against each distinct prefix once, not once per
    // watcher, and subscribing or leaving copies only that prefix's (usually short) list. Copy-on-write; the writer
    // reads the arrays without the lock.
    private PrefixGroup[] _groups = [];
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
                var index = Array.FindIndex(_groups, g => g.Prefix == prefix);
                if (index < 0)
                {
                    _groups = [.. _groups, new PrefixGroup(prefix, [subscription])];
                }
                else
                {
                    var groups = (PrefixGroup[])_groups.Clone();
                    groups[index] = groups[index] with { Subscriptions = [.. groups[index].Subscriptions, subscription] };
                    _groups = groups;
                }
            }
        }

        return subscription;
    }

    /// <summary>Called by the writer loop only, after commit, in log order.</summary>
    public void Publish(List<ChangeRecord> changes)
    {
        var groups = Volatile.Read(ref _groups);
        foreach (var group in groups)
        {
            foreach (var change in changes)
            {
                if (!change.Event.Item.Key.StartsWith(group.Prefix, StringComparison.Ordinal))
                {
                    continue;
                }

                foreach (var subscription in group.Subscriptions)
                {
                    subscription.Offer(change);
                }
            }
        }
    }

    public void Complete(Exception reason)
    {
        PrefixGroup[] groups;
        lock (_gate)
        {
            _completed = reason;
            groups = _groups;
            _groups = [];
        }

        foreach (var subscription in groups.SelectMany(g => g.Subscriptions))
        {
            subscription.Complete(reason);
        }
    }

    private void Remove(Subscription subscription)
    {
        lock (_gate)
        {
            var index = Array.FindIndex(_groups, g => g.Prefix == subscription.Prefix);
            if (index < 0)
            {
                return;
            }

            var remaining = Array.FindAll(_groups[index].Subscriptions, s => !ReferenceEquals(s, subscription));
            _groups = remaining.Length == 0
                ? Array.FindAll(_groups, g => g.Prefix != subscription.Prefix)
                : ReplaceAt(_groups, index, _groups[index] with { Subscriptions = remaining });
        }
    }

    private static PrefixGroup[] ReplaceAt(PrefixGroup[] groups, int index, PrefixGroup group)
    {
        var copy = (PrefixGroup[])groups.Clone();
        copy[index] = group;
        return copy;
    }

    private sealed record PrefixGroup(string Prefix, Subscription[] Subscriptions);

    /// <summary>One live watch's buffer.</summary>
    internal sealed class Subscription(ChangeFeed feed, string prefix, int capacity) : IDisposable
    {
        private readonly Channel<ChangeRecord> _channel = Channel.CreateBounded<ChangeRecord>(
            new BoundedChannelOptions(capacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        private volatile bool _overflowed;

        /// <summary>True once a change was dropped; the reader must re-read the log before trusting the buffer again.</summary>
        public bool Overflowed => _overflowed;

        public ChannelReader<ChangeRecord> Reader => _channel.Reader;

        public string Prefix => prefix;

        /// <summary>
        /// Clears the overflow mark. The caller then re-reads the log: every change dropped so far was
        /// committed before it was dropped, so the log holds it; later changes arrive here again.
        /// </summary>
        public void ResetOverflow() => _overflowed = false;

        public void Offer(in ChangeRecord change)
        {
            // The feed offers only changes under this watch's prefix. After a drop, stop buffering: anything kept
            // after a gap would be delivered out of order.
            if (_overflowed)
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
