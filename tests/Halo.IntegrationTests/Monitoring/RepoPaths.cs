namespace Halo.IntegrationTests.Monitoring;

/// <summary>Where the repository and the test artifacts are, found from the test binary's location.</summary>
internal static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    /// <summary>artifacts/monitoring under the repository (git-ignored): screenshots and other evidence for CI to keep.</summary>
    public static string Artifacts
    {
        get
        {
            var dir = Path.Combine(Root, "artifacts", "monitoring");
            Directory.CreateDirectory(dir);
            return dir;
        }
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Halo.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no Halo.slnx above {AppContext.BaseDirectory}");
    }
}
