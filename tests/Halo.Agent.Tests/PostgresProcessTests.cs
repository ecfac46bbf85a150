using Halo.Agent.Drivers;
using System.Diagnostics;

namespace Halo.Agent.Tests;

/// <summary>
/// Linux sends the parent-death signal when the *thread* that forked the child exits, not the process; .NET thread-pool
/// threads retire, so a postgres started with --pdeathsig from one could be SIGKILLed at random. These tests start children
/// from a thread that then exits.
/// </summary>
public sealed class PostgresProcessTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task StartServerAsync_StartingThreadExits_ChildKeepsRunning()
    {
        Process? direct = null;
        Process? launched = null;
        var starter = new Thread(() =>
        {
            // The control: forked by this thread itself, as a plain Process.Start would.
            direct = Process.Start(Child());
            launched = PostgresProcess.StartServerAsync(Child()).GetAwaiter().GetResult();
            // "ready" is printed after setpriv armed the signal, so the thread's exit below is seen by both children.
            Assert.Equal("ready", direct!.StandardOutput.ReadLine());
            Assert.Equal("ready", launched.StandardOutput.ReadLine());
        }) { IsBackground = true };
        starter.Start();
        Assert.True(starter.Join(Bound), "the starting thread did not finish");
        Assert.NotNull(direct);
        Assert.NotNull(launched);
        try
        {
            // The pitfall is real here: the control child is SIGKILLed (exit 128 + 9) as its forking thread exits.
            await direct.WaitForExitAsync().WaitAsync(Bound, TimeProvider.System);
            Assert.Equal(137, direct.ExitCode);

            // The child started through the launcher outlives the thread that asked for it.
            var exited = launched.WaitForExitAsync();
            var first = await Task.WhenAny(exited, Task.Delay(TimeSpan.FromSeconds(1), TimeProvider.System));
            Assert.True(first != exited, "the child started through the launcher died with the thread that asked for it");
        }
        finally
        {
            foreach (var p in new[] { direct, launched })
            {
                if (!p.HasExited)
                {
                    p.Kill();
                }

                p.Dispose();
            }
        }
    }

    private static ProcessStartInfo Child() => new("/usr/bin/setpriv")
    {
        ArgumentList = { "--pdeathsig=KILL", "--", "/bin/sh", "-c", "echo ready; exec sleep 60" },
        RedirectStandardOutput = true,
        UseShellExecute = false,
    };
}
