using System.Runtime.InteropServices;

namespace Halo.Gateway.Proxy.Engine;

/// <summary>
/// One epoll instance and the thread that waits on it. Readiness is handled on this thread, and what it completes (a
/// receive, a send, a connect) continues here inline: a proxied request is read, forwarded and answered on the thread that
/// saw its bytes arrive, with no queue and no ExecutionContext between (HAProxy's and nginx's model).
/// </summary>
internal sealed unsafe class EventLoop
{
    private const int BatchSize = 256;

    [ThreadStatic]
    private static EventLoop? _current;

    private readonly int _epoll;

    public EventLoop(int index)
    {
        Index = index;
        _epoll = Libc.epoll_create1(0x80000 /* EPOLL_CLOEXEC */);
        if (_epoll < 0)
        {
            throw Libc.Error(Libc.Errno);
        }

        // UnsafeStart: the loop carries no ExecutionContext, so continuations run without restoring one.
        var thread = new Thread(Run) { IsBackground = true, Name = $"halo-loop-{index}" };
        thread.UnsafeStart();
    }

    /// <summary>The loop whose thread is running, or null off the loops.</summary>
    public static EventLoop? Current => _current;

    /// <summary>Position in <see cref="EventLoopGroup"/>: backend connections are pooled per loop.</summary>
    public int Index { get; }

    /// <summary>Edge-triggered registration: an event means new bytes or new room since the last one.</summary>
    public void Register(int fd, ulong cookie, uint events)
    {
        if (Libc.EpollAdd(_epoll, fd, events, cookie) < 0)
        {
            throw Libc.Error(Libc.Errno);
        }
    }

    private void Run()
    {
        _current = this;
        var size = Libc.IsX64 ? sizeof(Libc.EpollEventPacked) : sizeof(Libc.EpollEventAligned);
        var events = (byte*)NativeMemory.Alloc((nuint)(BatchSize * size));
        while (true)
        {
            var n = Libc.EpollWait(_epoll, events, BatchSize);
            if (n < 0)
            {
                if (Libc.Errno == Libc.EINTR)
                {
                    continue;
                }

                // EBADF/EINVAL/EFAULT cannot heal: a loop spinning on them would hang its connections silently.
                Environment.FailFast($"halo gateway: epoll_wait failed on socket engine loop {Index}, errno {Libc.Errno}");
            }

            for (var i = 0; i < n; i++)
            {
                uint mask;
                ulong cookie;
                if (Libc.IsX64)
                {
                    var e = (Libc.EpollEventPacked*)(events + (i * size));
                    mask = e->Events;
                    cookie = e->Data;
                }
                else
                {
                    var e = (Libc.EpollEventAligned*)(events + (i * size));
                    mask = e->Events;
                    cookie = e->Data;
                }

                try
                {
                    EventTargetTable.Find(cookie)?.OnEvents(mask);
                }
                catch (Exception ex)
                {
                    // A continuation that throws must not end the loop: every connection on it would hang.
                    Console.Error.WriteLine($"halo gateway: socket engine event handler failed: {ex}");
                }
            }
        }
    }
}
