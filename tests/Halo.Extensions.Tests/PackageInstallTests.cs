using System.Diagnostics;
using System.Runtime.CompilerServices;
using Halo.Core.Registry;

namespace Halo.Client.Tests;

/// <summary>
/// The packages as a user meets them: packed from this repository into a folder, added to a fresh `dotnet new web`
/// project with `dotnet add package --source`, built and run against a real server, where the app registers itself
/// and calls itself by name through discovery.
/// </summary>
public sealed class PackageInstallTests
{
    private static readonly TimeSpan Step = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task Packages_FreshWebProject_BuildsRunsAndRegisters()
    {
        var root = Path.GetFullPath(Path.Combine(Folder(), "..", ".."));
        var work = Directory.CreateTempSubdirectory("halo-pack-").FullName;
        // A version no earlier run used: the NuGet cache keeps a package of a given version forever.
        var version = "0.1.0-t" + TimeProvider.System.GetUtcNow().ToString("yyyyMMddHHmmssfff", System.Globalization.CultureInfo.InvariantCulture);
        var feed = Path.Combine(work, "feed");
        var app = Path.Combine(work, "fresh");
        try
        {
            await RunAsync(root, "dotnet", "pack", "Halo.slnx", "-c", "Release", "--no-build", "-o", feed, $"-p:Version={version}");
            Assert.Contains(Directory.GetFiles(feed), f => f.EndsWith($"Halo.Extensions.Hosting.{version}.nupkg", StringComparison.Ordinal));
            await RunAsync(work, "dotnet", "new", "web", "-o", app, "--no-restore");
            await RunAsync(app, "dotnet", "add", "package", "Halo.Extensions.Hosting", "--version", version, "--source", feed);
            await RunAsync(app, "dotnet", "add", "package", "Halo.Extensions.ServiceDiscovery", "--version", version, "--source", feed);
            // Both packages: it registers itself as "fresh" and calls http://fresh through discovery.
            await File.WriteAllTextAsync(Path.Combine(app, "Program.cs"), """
                var builder = WebApplication.CreateBuilder(args);
                builder.Services.AddHealthChecks();
                builder.AddHaloRegistration(o => o.Service = "fresh");
                builder.Services.AddHaloServiceDiscovery();
                builder.Services.AddHttpClient("self", c => c.BaseAddress = new Uri("http://fresh")).AddHaloServiceDiscovery();
                var app = builder.Build();
                app.MapGet("/", () => "hello from a fresh project");
                app.MapGet("/by-name", async (IHttpClientFactory clients) => "by name: " + await clients.CreateClient("self").GetStringAsync("/"));
                app.Run();
                """);
            await RunAsync(app, "dotnet", "build", "-c", "Release", "-o", Path.Combine(app, "out"));

            await using var servers = await Servers.StartAsync();
            var (_, url) = await servers.AddServerAsync();
            using var process = Start(Path.Combine(app, "out"), url);
            try
            {
                using var halo = new HaloClient(url);
                InstanceRecord? registered = null;
                await Apps.UntilAsync(async () =>
                {
                    try
                    {
                        registered = (await halo.InstancesAsync("fresh")).Instances.SingleOrDefault();
                    }
                    catch (HaloApiException)
                    {
                    }

                    return registered is not null || process.HasExited;
                }, TimeSpan.FromSeconds(60), "the fresh app to register");
                Assert.False(process.HasExited, "the fresh app exited");

                using var http = new HttpClient();
                Assert.Equal("hello from a fresh project", await http.GetStringAsync($"http://{registered!.Address}:{registered.Port}/"));
                // Its discovery may read the catalog a moment before its own registration lands; the feed brings it.
                await Apps.UntilAsync(async () =>
                {
                    using var byName = await http.GetAsync($"http://{registered.Address}:{registered.Port}/by-name");
                    return byName.IsSuccessStatusCode && await byName.Content.ReadAsStringAsync() == "by name: hello from a fresh project";
                }, TimeSpan.FromSeconds(30), "http://fresh to resolve through Halo in the fresh app");
            }
            finally
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static Process Start(string output, Uri server)
    {
        var info = new ProcessStartInfo("dotnet", [Path.Combine(output, "fresh.dll"), "--urls", "http://127.0.0.1:0"])
        {
            WorkingDirectory = output,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.Environment["Halo__Server"] = server.ToString();
        info.Environment["Halo__HeartbeatInterval"] = "00:00:00.500";
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static async Task RunAsync(string directory, string file, params string[] args)
    {
        var info = new ProcessStartInfo(file, args) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(Step);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} took more than {Step}");
        }

        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', args)} exited {process.ExitCode}:\n{await stdout}\n{await stderr}");
    }

    private static string Folder([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;
}
