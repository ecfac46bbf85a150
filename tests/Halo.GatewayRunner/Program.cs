// Usage: Halo.GatewayRunner --config gateway.yaml [--listen 127.0.0.1:7480] [--server http://127.0.0.1:7400]
using Halo.Gateway;

string? config = null, listen = null, server = null;
for (var i = 0; i + 1 < args.Length; i += 2)
{
    switch (args[i])
    {
        case "--config": config = args[i + 1]; break;
        case "--listen": listen = args[i + 1]; break;
        case "--server": server = args[i + 1]; break;
    }
}

return await GatewayHost.RunAsync(new GatewayCommandLine { ConfigPath = config, Listen = listen, Server = server }, CancellationToken.None);
