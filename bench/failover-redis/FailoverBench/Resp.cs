using Halo.Agent.Drivers;

namespace FailoverBench;

/// <summary>One-shot RESP calls the Redis bench makes (process starting and waiting live in bench/tools/Processes.cs).</summary>
internal static class Resp
{
    public static async Task<object?> RedisAsync(int port, params string[] args)
    {
        await using var c = await RespConnection.ConnectAsync("127.0.0.1", port, TimeSpan.FromMilliseconds(300));
        return await c.ExecuteAsync(TimeSpan.FromSeconds(2), default, args);
    }

    public static async Task<int> PidAsync(int port)
    {
        var info = await RedisAsync(port, "INFO", "server") as string ?? "";
        var line = info.Split('\n').First(l => l.StartsWith("process_id:", StringComparison.Ordinal));
        return int.Parse(line[11..].Trim());
    }
}
