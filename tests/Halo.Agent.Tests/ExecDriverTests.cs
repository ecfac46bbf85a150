using Halo.Agent.Drivers;
using Halo.Core.Failover;

namespace Halo.Agent.Tests;

public sealed class ExecDriverTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "halo-exec-" + Guid.NewGuid().ToString("N"));

    public ExecDriverTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private ExecDriver Driver(string health = "test -f up") => new("127.0.0.1:9", new ExecCommands
    {
        Health = $"cd {_dir} && {health}",
        Position = $"cd {_dir} && cat position",
        Promote = $"cd {_dir} && echo primary $HALO_MIN_REPLICAS > role",
        Follow = $"cd {_dir} && echo replica $HALO_PRIMARY_HOST $HALO_PRIMARY_PORT > role",
        Fence = $"cd {_dir} && touch fenced",
    }, TimeSpan.FromSeconds(5));

    [Fact]
    public async Task ProbeAsync_HealthCommandFails_ReportsDown()
    {
        await using var driver = Driver();
        var probe = await driver.ProbeAsync(default);
        Assert.False(probe.Up);
    }

    [Fact]
    public async Task Commands_PromoteFollowFence_RunWithTheirEnvironmentAndTrackRole()
    {
        await File.WriteAllTextAsync(Path.Combine(_dir, "up"), "");
        await File.WriteAllTextAsync(Path.Combine(_dir, "position"), "4242\n");
        await using var driver = Driver();

        Assert.Equal((true, MemberRole.Unknown, 4242L), ((await driver.ProbeAsync(default)).Up, (await driver.ProbeAsync(default)).Role, (await driver.ProbeAsync(default)).Offset));
        await driver.FollowAsync("10.0.0.2", 6379, default);
        Assert.Equal("replica 10.0.0.2 6379", (await File.ReadAllTextAsync(Path.Combine(_dir, "role"))).Trim());
        Assert.Equal("10.0.0.2:6379", (await driver.ProbeAsync(default)).FollowingAddress);
        await driver.PromoteAsync(1, default);
        Assert.Equal("primary 1", (await File.ReadAllTextAsync(Path.Combine(_dir, "role"))).Trim());
        await driver.FenceAsync(default);
        Assert.True(File.Exists(Path.Combine(_dir, "fenced")));
        Assert.True((await driver.ProbeAsync(default)).Fenced);
    }

    [Fact]
    public async Task PromoteAsync_CommandFails_Throws()
    {
        await using var driver = new ExecDriver("127.0.0.1:9", new ExecCommands { Health = "true", Promote = "exit 3", Follow = "true" }, TimeSpan.FromSeconds(5));
        await Assert.ThrowsAsync<InvalidOperationException>(() => driver.PromoteAsync(0, default));
    }

    [Fact]
    public async Task ProbeAsync_HealthCommandWritesMoreThanAPipeToStderr_DoesNotHang()
    {
        await using var driver = new ExecDriver("127.0.0.1:9", new ExecCommands
        {
            Health = "head -c 300000 /dev/zero | tr '\\0' x >&2; head -c 300000 /dev/zero | tr '\\0' y; exit 0", Promote = "true", Follow = "true",
        }, TimeSpan.FromSeconds(20));
        var probe = await driver.ProbeAsync(default).WaitAsync(TimeSpan.FromSeconds(15));
        Assert.True(probe.Up, probe.Detail);
    }

    [Fact]
    public async Task ProbeAsync_HealthCommandHangs_TimesOutAndKillsTheWholeTree()
    {
        var child = Path.Combine(_dir, "child");
        await using var driver = new ExecDriver("127.0.0.1:9", new ExecCommands
        {
            Health = $"sleep 60 & echo $! > {child}; wait", Promote = "true", Follow = "true",
        }, TimeSpan.FromMilliseconds(500));
        var probe = await driver.ProbeAsync(default).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(probe.Up);
        Assert.Contains("timed out", probe.Detail, StringComparison.Ordinal);
        await AssertGoneAsync(int.Parse((await File.ReadAllTextAsync(child)).Trim()));
    }

    [Fact]
    public async Task FenceAsync_CallerGivesUp_KillsTheCommandAndThrows()
    {
        var child = Path.Combine(_dir, "child");
        await using var driver = new ExecDriver("127.0.0.1:9", new ExecCommands
        {
            Health = "true", Promote = "true", Follow = "true", Fence = $"sleep 60 & echo $! > {child}; wait",
        }, TimeSpan.FromSeconds(30));
        using var giveUp = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => driver.FenceAsync(giveUp.Token));
        await AssertGoneAsync(int.Parse((await File.ReadAllTextAsync(child)).Trim()));
    }

    private static async Task AssertGoneAsync(int pid)
    {
        for (var i = 0; i < 100 && IsRunning(pid); i++)
        {
            await Task.Delay(50);
        }

        Assert.False(IsRunning(pid), $"process {pid} outlived its command");
    }

    /// <summary>Alive and not a zombie waiting to be reaped.</summary>
    private static bool IsRunning(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/stat").Split(' ')[2] != "Z";
        }
        catch (IOException)
        {
            return false;
        }
    }
}
