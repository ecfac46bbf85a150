using Xunit;

[assembly: AssemblyFixture(typeof(Halo.IntegrationTests.ScratchRoot))]

namespace Halo.IntegrationTests;

/// <summary>
/// One directory per test run (under the system temp directory, named by the test process's id) that holds every test's
/// scratch files, deleted when the run ends. A run that was killed leaves its directory behind; the next run deletes
/// the directories of runs whose process is gone, so a machine that runs the suite all day does not fill /tmp.
/// </summary>
public sealed class ScratchRoot : IDisposable
{
    private const string Prefix = "halo-it-run-";

    public static string Directory { get; } = Create();

    public void Dispose() => TryDelete(Directory);

    private static string Create()
    {
        var temp = Path.GetTempPath();
        foreach (var stale in System.IO.Directory.GetDirectories(temp, Prefix + "*"))
        {
            if (int.TryParse(Path.GetFileName(stale).AsSpan(Prefix.Length), out var pid) && !System.IO.Directory.Exists($"/proc/{pid}"))
            {
                TryDelete(stale);
            }
        }

        var dir = Path.Combine(temp, Prefix + Environment.ProcessId);
        System.IO.Directory.CreateDirectory(dir);
        return dir;
    }

    private static void TryDelete(string dir)
    {
        try
        {
            System.IO.Directory.Delete(dir, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A file still held by a child that outlived its test: the next run deletes the rest.
        }
    }
}
