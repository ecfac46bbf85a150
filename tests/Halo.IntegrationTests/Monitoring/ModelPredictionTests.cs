using System.Text.Json;

namespace Halo.IntegrationTests.Monitoring;

/// <summary>`halo server --model FILE`: blocks named like a service give its predicted availability beside the measured one.</summary>
public sealed class ModelPredictionTests
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Server_ModelWithBlockNamedLikeService_PredictedInAvailability()
    {
        var model = Path.Combine(RepoPaths.Root, "examples", "models", "web-shop.yaml");
        var data = HaloProcess.TempDirectory("model");
        var port = HaloProcess.FreePort();
        await using var server = HaloProcess.Start("server", "--listen", $"127.0.0.1:{port}", "--data", data, "--model", model);
        await server.WaitForLineAsync("listening on", StartTimeout);
        using var http = HaloProcess.Http($"http://127.0.0.1:{port}");
        using (var put = await http.PutAsync("/v1/services/web/instances/web-1",
            new StringContent("""{"address":"127.0.0.1","port":8080}""", System.Text.Encoding.UTF8, "application/json")))
        {
            Assert.True(put.IsSuccessStatusCode);
        }

        var web = JsonDocument.Parse(await http.GetStringAsync("/v1/availability")).RootElement.GetProperty("services")[0];

        // web-shop.yaml: web is 2-of-3 of MTBF 2000 h / MTTR 2 h with β = 0.05 — a little under five nines.
        Assert.Equal("web", web.GetProperty("name").GetString());
        Assert.InRange(web.GetProperty("predicted").GetDouble(), 0.999, 1.0);
    }

    [Fact]
    public async Task Server_MissingModelFile_ExitsNamingTheOption()
    {
        var (code, text) = await HaloProcess.RunAsync(StartTimeout, "server", "--listen", "127.0.0.1:0", "--data", HaloProcess.TempDirectory("model-bad"), "--model", "/nonexistent/model.yaml");

        Assert.NotEqual(0, code);
        Assert.Contains("--model", text, StringComparison.Ordinal);
    }
}
