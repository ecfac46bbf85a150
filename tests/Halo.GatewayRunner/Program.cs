// Usage: Halo.GatewayRunner --config gateway.yaml [--listen 127.0.0.1:7480] [--server http://127.0.0.1:7400]
//        Halo.GatewayRunner --bare http://b1,http://b2,... --listen 127.0.0.1:PORT
// --bare runs plain YARP IHttpForwarder round robin with none of Halo's logic: the benchmark's floor.
using System.Net;
using Halo.Gateway;
using Yarp.ReverseProxy.Forwarder;

string? config = null, listen = null, server = null, bare = null;
for (var i = 0; i + 1 < args.Length; i += 2)
{
    switch (args[i])
    {
        case "--config": config = args[i + 1]; break;
        case "--listen": listen = args[i + 1]; break;
        case "--server": server = args[i + 1]; break;
        case "--bare": bare = args[i + 1]; break;
    }
}

if (bare is null)
{
    // Client: token and TLS resolve from the environment (HALO_TOKEN, HALO_TOKEN_FILE, ...) as for `halo gateway`.
    return await GatewayHost.RunAsync(
        new GatewayCommandLine { ConfigPath = config, Listen = listen, Server = server, Client = new Halo.Client.HaloConnectionOptions() }, CancellationToken.None);
}

var destinations = bare.Split(',');
var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(k => k.Listen(IPEndPoint.Parse(listen ?? "127.0.0.1:7480")));
builder.Services.AddHttpForwarder();
var app = builder.Build();
var forwarder = app.Services.GetRequiredService<IHttpForwarder>();
using var client = new HttpMessageInvoker(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false, AutomaticDecompression = DecompressionMethods.None, UseCookies = false });
var next = 0u;
app.Run(async ctx => await forwarder.SendAsync(ctx, destinations[Interlocked.Increment(ref next) % destinations.Length], client));
await app.StartAsync();
Console.WriteLine("listening on " + (listen ?? "127.0.0.1:7480"));
await app.WaitForShutdownAsync();
return 0;
