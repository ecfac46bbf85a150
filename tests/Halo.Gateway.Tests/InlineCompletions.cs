using System.Runtime.CompilerServices;

namespace Halo.Gateway.Tests;

/// <summary>
/// The gateway binary runs socket continuations inline on the event threads (GatewayHost.RunAsync); the in-process
/// gateways of these tests run the same way, so a blocking call on the proxy paths would show up here as a hang.
/// Set before the first socket of the test process exists (the runtime reads it once).
/// </summary>
internal static class InlineCompletions
{
#pragma warning disable CA2255 // a module initializer on purpose: it must run before any test opens a socket
    [ModuleInitializer]
    internal static void Enable()
    {
        GatewayHost.UseInlineSocketCompletions();
        // The gateway's own socket engine is opt-in; these tests run every in-process gateway on it where it can run.
        Environment.SetEnvironmentVariable(Halo.Gateway.Proxy.Engine.EventLoopGroup.Variable, "epoll");
    }
#pragma warning restore CA2255
}
