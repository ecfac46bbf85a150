namespace Halo.Gateway.Proxy.Engine;

/// <summary>
/// The gateway's socket engine: one <see cref="EventLoop"/> per CPU the process may run on, started on first use and
/// living as long as the process. Only on Linux; <c>HALO_GATEWAY_ENGINE=dotnet</c> turns it off (Kestrel's and .NET's
/// own sockets then carry everything, as before).
/// </summary>
internal static class EventLoopGroup
{
    private static readonly Lazy<EventLoop[]> Loops = new(() =>
        Enumerable.Range(0, Math.Max(1, Environment.ProcessorCount)).Select(i => new EventLoop(i)).ToArray());

    private static int _next;

    /// <summary>True when the engine runs here: Linux, and not turned off by <c>HALO_GATEWAY_ENGINE=dotnet</c>.</summary>
    public static bool IsSupported { get; } = OperatingSystem.IsLinux()
        && !string.Equals(Environment.GetEnvironmentVariable("HALO_GATEWAY_ENGINE"), "dotnet", StringComparison.OrdinalIgnoreCase);

    public static int Count => Loops.Value.Length;

    /// <summary>Round robin: accepted connections are spread over the loops.</summary>
    public static EventLoop Next()
    {
        var loops = Loops.Value;
        return loops[(int)((uint)Interlocked.Increment(ref _next) % (uint)loops.Length)];
    }
}
