using System.Diagnostics;
using System.Reflection;

namespace Halo.Store.Tests;

/// <summary>
/// Runs Halo.Bench's crash-writer as a separate process, collects the keys it acknowledges and kills it
/// with SIGKILL after enough of them: the test of "nothing acknowledged is lost".
/// </summary>
internal static class CrashWriter
{
    public static async Task<IReadOnlyList<string>> RunAndKillAsync(string directory, string prefix, int acknowledgementsBeforeKill)
    {
        var bench = typeof(CrashWriter).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "BenchAssembly").Value!;
        Assert.True(File.Exists(bench), $"helper {bench} is missing; build tests/Halo.Store.Tests (it builds bench/Halo.Bench)");
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { bench, "crash-writer", "--dir", directory, "--prefix", prefix, "--count", "10000000", "--concurrency", "8" })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var acknowledged = new List<string>();
        var enough = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var reader = Task.Run(async () =>
        {
            while (await process.StandardOutput.ReadLineAsync() is { } line)
            {
                // A line cut short by the kill names no whole key; it was never an acknowledgement.
                if (line.StartsWith("ack ", StringComparison.Ordinal) && line.Length == 4 + prefix.Length + 8)
                {
                    acknowledged.Add(line[4..]);
                    if (acknowledged.Count >= acknowledgementsBeforeKill)
                    {
                        enough.TrySetResult();
                    }
                }
            }

            enough.TrySetResult();
        });

        var waited = await Task.WhenAny(enough.Task, Task.Delay(TimeSpan.FromSeconds(60)));
        try
        {
            process.Kill(entireProcessTree: true); // SIGKILL: no flush, no dispose, no goodbye
        }
        catch (InvalidOperationException)
        {
            // Already exited; the assertions below report why.
        }

        Assert.True(await Task.WhenAny(reader, Task.Delay(TimeSpan.FromSeconds(30))) == reader, "crash-writer output did not end after the kill");
        Assert.True(waited == enough.Task && acknowledged.Count >= acknowledgementsBeforeKill,
            $"crash-writer acknowledged {acknowledged.Count} writes; stderr: {await stderr}");
        return acknowledged;
    }
}
