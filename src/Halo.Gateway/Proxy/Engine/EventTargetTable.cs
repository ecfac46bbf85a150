namespace Halo.Gateway.Proxy.Engine;

/// <summary>
/// The epoll cookie of every registered socket: a slot and a generation, so an event still in a loop's batch for a socket
/// closed meanwhile on another thread (whose descriptor may already belong to a new socket) finds nothing instead of the
/// wrong target. Slots are reused; a lock guards add and remove (once per connection), lookups read without it.
/// </summary>
internal static class EventTargetTable
{
    private static readonly object Gate = new();
    private static Entry[] _entries = new Entry[256];
    private static readonly Stack<int> Free = new();
    private static int _used;

    public static ulong Add(IEventTarget target)
    {
        lock (Gate)
        {
            int slot;
            if (Free.Count > 0)
            {
                slot = Free.Pop();
            }
            else
            {
                if (_used == _entries.Length)
                {
                    var bigger = new Entry[_entries.Length * 2];
                    Array.Copy(_entries, bigger, _used);
                    Volatile.Write(ref _entries, bigger);
                }

                slot = _used++;
            }

            var generation = _entries[slot].Generation + 1;
            _entries[slot] = new Entry(target, generation);
            return ((ulong)generation << 32) | (uint)slot;
        }
    }

    public static void Remove(ulong cookie)
    {
        lock (Gate)
        {
            var slot = (int)(uint)cookie;
            if (_entries[slot].Generation == (uint)(cookie >> 32) && _entries[slot].Target is not null)
            {
                _entries[slot] = new Entry(null, _entries[slot].Generation);
                Free.Push(slot);
            }
        }
    }

    public static IEventTarget? Find(ulong cookie)
    {
        var entries = Volatile.Read(ref _entries);
        var slot = (int)(uint)cookie;
        if (slot >= entries.Length)
        {
            return null;
        }

        var entry = entries[slot];
        return entry.Generation == (uint)(cookie >> 32) ? entry.Target : null;
    }

    private readonly record struct Entry(IEventTarget? Target, uint Generation);
}
