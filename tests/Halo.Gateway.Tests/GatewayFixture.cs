using Microsoft.Extensions.DependencyInjection;
using Halo.Gateway.Configuration;
using Microsoft.AspNetCore.Builder;

namespace Halo.Gateway.Tests;

/// <summary>An in-process gateway on a real socket (127.0.0.1, free port) built from YAML.</summary>
internal sealed class InProcessGateway : IAsyncDisposable
{
    private WebApplication _app = null!;

    public HttpClient Client { get; private set; } = null!;

    public IServiceProvider Services => _app.Services;

    /// <summary>Starts a gateway; <paramref name="fastPath"/> false sends everything through Kestrel and YARP.</summary>
    public static async Task<InProcessGateway> StartAsync(string yaml, Uri? server = null, bool fastPath = true, Action<IServiceCollection>? configure = null)
    {
        var settings = GatewayConfigLoader.Parse(yaml, "127.0.0.1:0", server?.ToString());
        var g = new InProcessGateway { _app = GatewayHost.Build(settings, configure) };
        g._app.Services.GetRequiredService<Halo.Gateway.Proxy.Http1.Http1FastPath>().Enabled = fastPath;
        await g._app.StartAsync();
        g.Client = new HttpClient { BaseAddress = new Uri(GatewayHost.Addresses(g._app).First()), Timeout = TimeSpan.FromSeconds(10) };
        return g;
    }

    /// <summary>The gateway's address as host:port, for raw-socket tests.</summary>
    public System.Net.IPEndPoint EndPoint => System.Net.IPEndPoint.Parse(Client.BaseAddress!.Authority);

    public async Task<string> GetBackendAsync(string path = "/")
    {
        using var response = await Client.GetAsync(path);
        response.EnsureSuccessStatusCode();
        return response.Headers.GetValues("X-Backend").Single();
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(3)))
        {
            await _app.StopAsync(cts.Token);
        }

        await _app.DisposeAsync();
    }
}
