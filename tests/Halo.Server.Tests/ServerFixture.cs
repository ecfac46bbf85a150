using System.Net.Http.Json;
using System.Text.Json;
using Halo.Core.Serialization;
using Halo.Server.Detection;
using Halo.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Halo.Server.Tests;

/// <summary>
/// A real server on a free loopback port over a real embedded store in a temp folder, driven by a fake clock. Auth is on
/// (the default); <see cref="Http"/> carries the bootstrap admin token, so tests not about auth need not think of it.
/// </summary>
public sealed class ServerFixture : IAsyncDisposable
{
    private readonly bool _ownsStore;

    private ServerFixture(WebApplication app, IStore store, string directory, FakeTimeProvider time, bool ownsStore = true)
    {
        _ownsStore = ownsStore;
        App = app;
        Store = store;
        Directory = directory;
        Time = time;
        AdminToken = File.Exists(Path.Combine(directory, "bootstrap.token")) ? File.ReadAllText(Path.Combine(directory, "bootstrap.token")).Trim() : null;
        Http = Client(AdminToken);
    }

    /// <summary>The bootstrap admin token (null when the server runs anonymous).</summary>
    public string? AdminToken { get; }

    /// <summary>A client of this server sending <paramref name="token"/> (none when null).</summary>
    public HttpClient Client(string? token)
    {
        var http = new HttpClient { BaseAddress = HaloServerHost.Address(App), Timeout = TimeSpan.FromSeconds(30) };
        if (token is not null)
        {
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        }

        return http;
    }

    /// <summary>Creates a token through the API (as admin) and returns its secret.</summary>
    public async Task<string> CreateTokenAsync(string name, string role, string[]? services = null, string[]? groups = null, string? member = null)
    {
        using var response = await Http.PostAsJsonAsync("/v1/tokens", new { name, role, services, groups, member }, HaloJson.Options);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == System.Net.HttpStatusCode.Created, $"token {name}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.GetProperty("token").GetString()!;
    }

    public WebApplication App { get; }
    public IStore Store { get; }
    public string Directory { get; }
    public FakeTimeProvider Time { get; }
    public HttpClient Http { get; }

    public static async Task<ServerFixture> StartAsync(ServerOptions? options = null)
    {
        var directory = Path.Combine(Path.GetTempPath(), "halo-server-tests-" + Guid.NewGuid().ToString("N"));
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero)) { AutoAdvanceAmount = TimeSpan.Zero };
        var store = await EmbeddedStore.OpenAsync(directory, new EmbeddedStoreOptions(), time);
        var app = await HaloServerHost.BuildAsync((options ?? new ServerOptions()) with { Listen = "http://127.0.0.1:0", DataDirectory = directory }, store, time);
        await app.StartAsync();
        return new ServerFixture(app, store, directory, time);
    }

    /// <summary>
    /// A second server over this fixture's store and clock, as several `halo server`s share one etcd. The store stays
    /// this fixture's; disposing the second server leaves it open.
    /// </summary>
    public async Task<ServerFixture> StartPeerAsync(ServerOptions? options = null)
    {
        var app = await HaloServerHost.BuildAsync((options ?? new ServerOptions()) with { Listen = "http://127.0.0.1:0", DataDirectory = Directory }, Store, Time);
        await app.StartAsync();
        return new ServerFixture(app, Store, Directory, Time, ownsStore: false);
    }

    /// <summary>Moves the fake clock forward in steps, running a detector pass at each step.</summary>
    public async Task AdvanceAsync(TimeSpan by, TimeSpan? step = null)
    {
        var loop = App.Services.GetRequiredService<DetectorLoop>();
        var s = step ?? TimeSpan.FromMilliseconds(100);
        for (var t = TimeSpan.Zero; t < by; t += s)
        {
            Time.Advance(s);
            await loop.TickAsync(CancellationToken.None);
        }
    }

    public Task<HttpResponseMessage> RegisterAsync(string service, string id, object? body = null) =>
        Http.PutAsJsonAsync($"/v1/services/{service}/instances/{id}", body ?? new { address = "127.0.0.1", port = 8080 }, HaloJson.Options);

    public async Task<JsonElement> GetJsonAsync(string path)
    {
        using var response = await Http.GetAsync(path);
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        if (!_ownsStore)
        {
            return;
        }

        await Store.DisposeAsync();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
