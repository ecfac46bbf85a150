namespace Halo.Gateway.Proxy.Engine;

/// <summary>
/// The gateway's socket engine: one <see cref="EventLoop"/> per CPU the process may run on, started on first use and
/// living as long as the process. Only on Linux, and for now only when asked for with <c>HALO_GATEWAY_ENGINE=epoll</c>:
/// GatewayFuzzTests found a case it answers 502 where .NET's sockets answer (seed 1VCrqlVPiFq1, a 1 MiB body to a route the
/// backend refuses without reading; docs/performance.md, "Session 10"), so Kestrel's and .NET's sockets stay the default.
/// </summary>
internal static class EventLoopGroup
{
    private static readonly Lazy<EventLoop[]> Loops = new(() =>
        Enumerable.Range(0, Math.Max(1, Environment.ProcessorCount)).Select(i => new EventLoop(i)).ToArray());

    private static int _next;

    /// <summary>The variable that turns the engine on (<c>epoll</c>); read once, when the engine is first asked about.</summary>
    public const string Variable = "HALO_GATEWAY_ENGINE";

    /// <summary>True where the engine can run (Linux).</summary>
    public static bool IsSupported { get; } = OperatingSystem.IsLinux();

    /// <summary>True when the gateway uses it: supported, and <c>HALO_GATEWAY_ENGINE=epoll</c>.</summary>
    public static bool IsEnabled { get; } = IsSupported
        && string.Equals(Environment.GetEnvironmentVariable(Variable), "epoll", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Checks the variable's value at start: <c>epoll</c> (the engine) and <c>dotnet</c> or unset (the default) are the
    /// choices; anything else, a misspelt <c>epol</c> say, stops the gateway instead of silently meaning the default.
    /// </summary>
    public static void Validate(string? value)
    {
        if (!string.IsNullOrEmpty(value) && !string.Equals(value, "epoll", StringComparison.OrdinalIgnoreCase)
            && !string.Equals(value, "dotnet", StringComparison.OrdinalIgnoreCase))
        {
            throw new Configuration.GatewayConfigException(Variable, $"'{value}' is not a socket engine: epoll (the gateway's own, Linux) or dotnet (the default)");
        }
    }

    public static int Count => Loops.Value.Length;

    /// <summary>Round robin: accepted connections are spread over the loops.</summary>
    public static EventLoop Next()
    {
        var loops = Loops.Value;
        return loops[(int)((uint)Interlocked.Increment(ref _next) % (uint)loops.Length)];
    }
}
