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
}
