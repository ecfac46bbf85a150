using Halo.IntegrationTests.Failover;

namespace Halo.IntegrationTests.Security;

/// <summary>
/// The real processes one end-to-end test starts (halo verbs, redis-servers) and its temporary directory: at the end the
/// last lines of each halo process's output go to the test's output, every process is stopped and the directory removed.
/// </summary>
internal sealed class ProcessScope(ITestOutputHelper output, string name, int outputLines = 15) : IAsyncDisposable
{
    private readonly List<HaloProcess> _processes = [];

    public string Root { get; } = HaloProcess.TempDirectory(name);

    /// <summary>The redis-servers started, in order.</summary>
    public List<RedisProcess> Redis { get; } = [];

    public string Path(string file) => System.IO.Path.Combine(Root, file);

    public HaloProcess Start(params string[] args)
    {
        var process = HaloProcess.Start(args);
        _processes.Add(process);
        return process;
    }

    public async Task<RedisProcess> StartRedisAsync()
    {
        var redis = await RedisProcess.StartAsync();
        Redis.Add(redis);
        return redis;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var p in _processes)
        {
            output.WriteLine(string.Join('\n', p.Output.TakeLast(outputLines)));
            await p.DisposeAsync();
        }

        foreach (var r in Redis)
        {
            await r.DisposeAsync();
        }

        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
