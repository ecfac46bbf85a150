using Halo.Agent.Drivers;
using Halo.Core.Failover;

namespace Halo.Agent.Tests;

/// <summary>
/// Two real redis-servers started by <see cref="ManagedRedis"/> with an ACL user: the driver authenticates, a wrong or
/// missing password is a probe that is down with Redis' reason (never the password), and a replica follows its primary
/// with the same credentials (masteruser/masterauth).
/// </summary>
public sealed class RedisAuthTests : IAsyncDisposable
{
    private static readonly RedisAuth Auth = new("halo", "s3cret-" + Guid.NewGuid().ToString("N"));
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "halo-redis-auth-" + Guid.NewGuid().ToString("N"));
    private readonly List<ManagedRedis> _redis = [];

    [Fact]
    public async Task AclUser_DriverAuthenticates_WrongPasswordIsDown_ReplicaFollowsWithTheSameCredentials()
    {
        var (primaryPort, replicaPort) = (FreePorts.Next(), FreePorts.Next());
        Start(primaryPort, "primary");
        Start(replicaPort, "replica");
        await using var primary = new RedisDriver("127.0.0.1", primaryPort, TimeSpan.FromSeconds(1), auth: Auth);
        await using var replica = new RedisDriver("127.0.0.1", replicaPort, TimeSpan.FromSeconds(1), auth: Auth);
        Assert.True((await WaitAsync(primary, p => p.Up)).Up);
        await WaitAsync(replica, p => p.Up);

        await using (var anonymous = new RedisDriver("127.0.0.1", primaryPort, TimeSpan.FromSeconds(1)))
        {
            var refused = await anonymous.ProbeAsync(default);
            Assert.False(refused.Up);
            Assert.Contains("NOAUTH", refused.Detail, StringComparison.OrdinalIgnoreCase);
        }

        await using (var wrong = new RedisDriver("127.0.0.1", primaryPort, TimeSpan.FromSeconds(1), auth: Auth with { Password = "not-it" }))
        {
            var refused = await wrong.ProbeAsync(default);
            Assert.False(refused.Up);
            Assert.Contains("AUTH as halo", refused.Detail, StringComparison.Ordinal);
            Assert.DoesNotContain("not-it", refused.Detail, StringComparison.Ordinal);
        }

        await primary.PromoteAsync(0, default);
        await replica.FollowAsync("127.0.0.1", primaryPort, default);
        var synced = await WaitAsync(replica, p => p is { Role: MemberRole.Replica, Healthy: true } && p.Detail == "link up");
        Assert.Equal($"127.0.0.1:{primaryPort}", synced.FollowingAddress);
        Assert.DoesNotContain(Auth.Password, Auth.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Load_ReadsUserAndPassword_OrAPasswordAlone_AndRefusesEmptyOrMalformedFiles()
    {
        Directory.CreateDirectory(_dir);
        var file = Path.Combine(_dir, "auth");
        File.WriteAllText(file, "halo pw1\n");
        Assert.Equal(new RedisAuth("halo", "pw1"), RedisAuth.Load(file));
        File.WriteAllText(file, "pw2\n");
        Assert.Equal(new RedisAuth(null, "pw2"), RedisAuth.Load(file));
        File.WriteAllText(file, "\n");
        Assert.Throws<FormatException>(() => RedisAuth.Load(file));
        File.WriteAllText(file, "halo pw3 extra\n");
        Assert.DoesNotContain("pw3", Assert.Throws<FormatException>(() => RedisAuth.Load(file)).Message, StringComparison.Ordinal);
    }

    private void Start(int port, string name)
    {
        var redis = new ManagedRedis("/usr/bin/redis-server", port, Path.Combine(_dir, name), auth: Auth);
        _redis.Add(redis);
        Assert.True(redis.EnsureRunning(null, null));
    }

    private static async Task<DbProbe> WaitAsync(RedisDriver driver, Func<DbProbe, bool> condition)
    {
        var probe = await driver.ProbeAsync(default);
        for (var i = 0; i < 200 && !condition(probe); i++)
        {
            await Task.Delay(50);
            probe = await driver.ProbeAsync(default);
        }

        return condition(probe) ? probe : throw new TimeoutException($"last probe: up={probe.Up} role={probe.Role} healthy={probe.Healthy} {probe.Detail}");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var redis in _redis)
        {
            await redis.DisposeAsync();
        }

        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
