using System.Diagnostics;

namespace Halo.IntegrationTests.Gateway;

/// <summary>
/// Finds the TestBackend build next to this test build (same configuration), building it once if a
/// plain `dotnet test` of this project did not. (The gateway itself is `halo gateway` from halo.dll.)
/// </summary>
internal static class Artifacts
{
    private static readonly Lazy<string> Paths = new(Locate);

    public static string Backend => Paths.Value;

    private static string Locate()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Halo.slnx")))
        {
            dir = dir.Parent;
        }

        if (dir is null)
        {
            throw new InvalidOperationException("cannot find the repository root (Halo.slnx) above " + AppContext.BaseDirectory);
        }

        var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
        return Ensure(dir.FullName, "Halo.TestBackend", configuration);
    }

    private static string Ensure(string root, string project, string configuration)
    {
        var dll = Path.Combine(root, "tests", project, "bin", configuration, "net10.0", project + ".dll");
        if (!File.Exists(dll))
        {
            var psi = new ProcessStartInfo("dotnet", ["build", Path.Combine(root, "tests", project), "-c", configuration, "-nologo", "-v", "q"]) { UseShellExecute = false };
            using var p = Process.Start(psi)!;
            if (!p.WaitForExit(TimeSpan.FromMinutes(5)) || p.ExitCode != 0 || !File.Exists(dll))
            {
                throw new InvalidOperationException($"could not build {project} ({dll})");
            }
        }

        return dll;
    }
}
