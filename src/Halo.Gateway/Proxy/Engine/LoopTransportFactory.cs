using System.Net;
using Microsoft.AspNetCore.Connections;

namespace Halo.Gateway.Proxy.Engine;

/// <summary>
/// Kestrel's transport for the gateway's TCP listeners on Linux: connections live on the gateway's own event loops
/// (<see cref="EventLoopGroup"/>). Kestrel keeps everything above the transport (TLS, HTTP/2, limits, shutdown);
/// other endpoint kinds (Unix sockets, named pipes) stay with Kestrel's socket transport.
/// </summary>
internal sealed class LoopTransportFactory : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    public bool CanBind(EndPoint endpoint) => endpoint is IPEndPoint;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default) =>
        new(LoopListener.Bind((IPEndPoint)endpoint));
}
