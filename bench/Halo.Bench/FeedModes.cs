using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;

namespace Halo.Bench;

/// <summary>
/// The change feed read back, each side through its ordinary client: `feed` follows `GET /v1/watch?from=0` (Server-Sent
/// Events, every instance change since the start) and `etcd-watch` opens an etcd watch on the put modes' prefix from
/// revision 1. Both stop after --count changes and print changes/s: how fast a follower (a gateway, a dashboard, another
/// server) that reconnects, or starts, catches up with the history written before it.
/// </summary>
internal static class FeedModes
{
    public static async Task<int> HaloAsync(Args args)
    {
        var server = args.Require("--server").TrimEnd('/');
        var count = args.Int("--count", 20_000);
        using var http = HttpModes.Client(1);
        http.Timeout = TimeSpan.FromSeconds(args.Double("--timeout", 60));
        var cpu = Environment.CpuUsage.TotalTime;
        var clock = new RunClock();
        var seen = 0;
        try
        {
            using var response = await http.GetAsync($"{server}/v1/watch?from=0", HttpCompletionOption.ResponseHeadersRead);
            response.EnsureSuccessStatusCode();
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            // One SSE message per change: "event: put|delete", "id: <revision>", "data: <json>", blank line.
            while (seen < count && await reader.ReadLineAsync() is { } line)
            {
                if (line.StartsWith("data:", StringComparison.Ordinal))
                {
                    seen++;
                }
            }
        }
        catch (Exception error) when (error is HttpRequestException or TaskCanceledException or IOException)
        {
            await Console.Error.WriteLineAsync($"feed failed after {seen} changes: {error.Message}");
        }

        return Result("feed", count, seen, clock, cpu);
    }

    public static async Task<int> EtcdAsync(Args args)
    {
        var endpoints = args.Require("--endpoints");
        var count = args.Int("--count", 20_000);
        using var client = new EtcdClient(endpoints, configureChannelOptions: o => o.Credentials = ChannelCredentials.Insecure);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(args.Double("--timeout", 60)), TimeProvider.System);
        var cpu = Environment.CpuUsage.TotalTime;
        var clock = new RunClock();
        var seen = 0;
        try
        {
            using var call = client.GetConnection().WatchClient.Watch(new CallOptions(cancellationToken: timeout.Token));
            var create = new WatchCreateRequest { Key = ByteString.CopyFromUtf8("bench/"), RangeEnd = ByteString.CopyFromUtf8("bench0"), StartRevision = 1 };
            await call.RequestStream.WriteAsync(new WatchRequest { CreateRequest = create }, timeout.Token);
            while (seen < count && await call.ResponseStream.MoveNext(timeout.Token))
            {
                seen += call.ResponseStream.Current.Events.Count;
            }
        }
        catch (RpcException error)
        {
            await Console.Error.WriteLineAsync($"etcd watch failed after {seen} changes: {error.Status.Detail}");
        }

        return Result("etcd-watch", count, seen, clock, cpu);
    }

    private static int Result(string mode, int count, int seen, RunClock clock, TimeSpan cpu)
    {
        var elapsed = clock.Elapsed.TotalSeconds;
        Report.Result(mode, $"count={count} seconds={elapsed:F2} changes={seen} rate={seen / elapsed:F0}/s {Report.ClientCpu(cpu, seen)}");
        return seen >= count ? 0 : 1;
    }
}
