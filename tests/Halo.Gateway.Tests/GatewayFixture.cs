using Halo.Gateway.Configuration;
using Microsoft.AspNetCore.Builder;

namespace Halo.Gateway.Tests;

/// <summary>An in-process gateway on a real socket (127.0.0.1, free port) built from YAML.</summary>
internal sealed class InProcessGateway : IAsyncDisposable
{
    private WebApplication _app = null!;

    public HttpClient Client { get; private set; } = null!;

    public IServiceProvider Services => _app.Services;

    public static async Task<InProcessGateway> StartAsync(string yaml, Uri? server = null)
    {
        var settings = GatewayConfigLoader.Parse(yaml, "127.0.0.1:0", server?.ToString());
        var g = new InProcessGateway { _app = GatewayHost.Build(settings) };
        await g._app.StartAsync();
        g.Client = new HttpClient { BaseAddress = new Uri(GatewayHost.Addresses(g._app).First()), Timeout = TimeSpan.FromSeconds(10) };
        return g;
    }

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
