using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Halo.Gateway.Proxy.Engine;

/// <summary>The Linux calls the socket engine makes (glibc/musl "libc"): non-blocking sockets and epoll.</summary>
internal static unsafe partial class Libc
{
    public const int EAGAIN = 11;
    public const int EINTR = 4;
    public const int EINPROGRESS = 115;

    public const uint EPOLLIN = 0x001;
    public const uint EPOLLOUT = 0x004;
    public const uint EPOLLERR = 0x008;
    public const uint EPOLLHUP = 0x010;
    public const uint EPOLLRDHUP = 0x2000;
    public const uint EPOLLET = 1u << 31;

    public const int EPOLL_CTL_ADD = 1;
    public const int SOCK_STREAM = 1;
    public const int SOCK_NONBLOCK = 0x800;
    public const int SOCK_CLOEXEC = 0x80000;
    public const int MSG_NOSIGNAL = 0x4000;
    public const int SHUT_RDWR = 2;
    public const int SOL_SOCKET = 1;
    public const int SO_ERROR = 4;
    public const int IPPROTO_TCP = 6;
    public const int TCP_NODELAY = 1;
    public const int F_GETFL = 3;
    public const int F_SETFL = 4;
    public const int O_NONBLOCK = 0x800;

    /// <summary>struct epoll_event: packed on x86-64 (12 bytes), naturally aligned (16) elsewhere.</summary>
    [StructLayout(LayoutKind.Sequential, Pack = 4)]
    public struct EpollEventPacked
    {
        public uint Events;
        public ulong Data;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct EpollEventAligned
    {
        public uint Events;
        public ulong Data;
    }

    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_create1(int flags);

    [LibraryImport("libc", EntryPoint = "epoll_ctl", SetLastError = true)]
    private static partial int EpollCtl(int epfd, int op, int fd, void* ev);

    [LibraryImport("libc", EntryPoint = "epoll_wait", SetLastError = true)]
    private static partial int EpollWait(int epfd, void* events, int maxevents, int timeout);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int socket(int domain, int type, int protocol);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int connect(int fd, byte* addr, int len);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int accept4(int fd, byte* addr, int* len, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint recv(int fd, byte* buf, nint len, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint send(int fd, byte* buf, nint len, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int shutdown(int fd, int how);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setsockopt(int fd, int level, int name, int* value, int len);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int getsockopt(int fd, int level, int name, int* value, int* len);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fcntl(int fd, int cmd, int arg);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int getsockname(int fd, byte* addr, int* len);

    public static bool IsX64 => RuntimeInformation.ProcessArchitecture == Architecture.X64;

    public static int EpollAdd(int epfd, int fd, uint events, ulong data)
    {
        if (IsX64)
        {
            var ev = new EpollEventPacked { Events = events, Data = data };
            return EpollCtl(epfd, EPOLL_CTL_ADD, fd, &ev);
        }

        var ev2 = new EpollEventAligned { Events = events, Data = data };
        return EpollCtl(epfd, EPOLL_CTL_ADD, fd, &ev2);
    }

    public static int EpollWait(int epfd, void* events, int max) => EpollWait(epfd, events, max, -1);

    public static int Errno => Marshal.GetLastPInvokeError();

    /// <summary>An errno as the SocketError .NET's own sockets report, for messages and tests.</summary>
    public static SocketException Error(int errno) => new((int)(errno switch
    {
        104 => SocketError.ConnectionReset,
        111 => SocketError.ConnectionRefused,
        32 => SocketError.Shutdown,
        110 => SocketError.TimedOut,
        113 => SocketError.HostUnreachable,
        101 => SocketError.NetworkUnreachable,
        98 => SocketError.AddressAlreadyInUse,
        _ => SocketError.SocketError,
    }));
}
