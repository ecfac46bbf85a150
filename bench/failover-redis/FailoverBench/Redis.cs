using Halo.Agent.Drivers;

namespace FailoverBench;

/// <summary>One-shot Redis commands the bench needs beside the write load.</summary>
internal static class Redis
{
    public static async Task<object?> CommandAsync(int port, params string[] args)
    {
        await using var c = await RespConnection.ConnectAsync("127.0.0.1", port, TimeSpan.FromMilliseconds(300));
        return await c.ExecuteAsync(TimeSpan.FromSeconds(2), default, args);
    }

    public static async Task<int> PidAsync(int port)
    {
        var info = await CommandAsync(port, "INFO", "server") as string ?? "";
        var line = info.Split('\n').First(l => l.StartsWith("process_id:", StringComparison.Ordinal));
        return int.Parse(line[11..].Trim());
    }
}
