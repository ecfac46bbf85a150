using System.Diagnostics;
using Halo.Agent.Drivers;

namespace Halo.Agent.Tests;

/// <summary>A real redis-server run by <see cref="ManagedRedis"/>: an agent killed with SIGKILL leaves it running, and its successor takes it over.</summary>
public sealed class ManagedRedisTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "halo-managed-" + Guid.NewGuid().ToString("N"));
    private readonly int _port = FreePorts.Next();

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private async Task<int> AnsweringPidAsync()
    {
        await using var driver = new RedisDriver("127.0.0.1", _port, TimeSpan.FromSeconds(1));
        for (var i = 0; i < 100; i++)
        {
            var probe = await driver.ProbeAsync(default);
            if (probe.Up && probe.Pid is { } pid)
            {
                return pid;
            }

            await Task.Delay(50);
        }

        throw new TimeoutException("redis-server did not answer");
    }

    [Fact]
    public async Task EnsureRunning_PredecessorKilledLeftItsRedisRunning_TakesItOverThenRestartsItWhenItDies()
    {
        var first = new ManagedRedis("/usr/bin/redis-server", _port, _dir);
        Assert.True(first.EnsureRunning(null, null));
        var pid = await AnsweringPidAsync();

        // The first agent is gone without stopping its database (as after kill -9): a second one on the same port and directory.
        await using var second = new ManagedRedis("/usr/bin/redis-server", _port, _dir);
        Assert.False(second.EnsureRunning(null, null));
        Assert.True(second.Running);
        Assert.Equal(pid, second.Pid);
        Assert.Equal(0, second.Restarts);

        using (var orphan = Process.GetProcessById(pid))
        {
            orphan.Kill();
            await orphan.WaitForExitAsync();
        }

        for (var i = 0; i < 100 && second.Running; i++)
        {
            await Task.Delay(20);
        }

        Assert.False(second.Running);
        Assert.True(second.EnsureRunning(null, null));
        Assert.Equal(1, second.Restarts);
        Assert.NotEqual(pid, await AnsweringPidAsync());
    }
}
