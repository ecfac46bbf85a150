using System.Diagnostics;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Halo.Store;

namespace Halo.Bench;

/// <summary>
/// `embedded-put` and `etcd-put`: C closed-loop workers each put unique keys for S seconds; every put is
/// durable when it returns (EmbeddedStore: group-committed fsync; etcd: raft log fsync). Prints puts/s.
/// </summary>
internal static class PutModes
{
    public static async Task<int> EmbeddedAsync(Args args)
    {
        var dir = args.Require("--dir");
        await using var store = await EmbeddedStore.OpenAsync(dir, new EmbeddedStoreOptions(), TimeProvider.System);
        return await RunAsync("embedded-put", args, (key, value) => store.PutAsync(key, value));
    }

    public static async Task<int> EtcdAsync(Args args)
    {
        var endpoints = args.Require("--endpoints");
        using var client = new EtcdClient(endpoints, configureChannelOptions: o => o.Credentials = ChannelCredentials.Insecure);
        return await RunAsync("etcd-put", args, (key, value) =>
            client.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8(key), Value = ByteString.CopyFrom(value.Span) }));
    }

    private static async Task<int> RunAsync(string mode, Args args, Func<string, ReadOnlyMemory<byte>, Task> put)
    {
        var concurrency = args.Int("--concurrency", 16);
        var seconds = args.Double("--seconds", 10);
        var value = new byte[args.Int("--value-size", 128)];
        Array.Fill(value, (byte)'x');
        var run = Guid.NewGuid().ToString("N")[..8];

        // Warm-up: connection, JIT and the first file growth are not what is being measured.
        for (var i = 0; i < 20; i++)
        {
            await put($"bench/warmup/{run}/{i}", value);
        }

        var latencies = new Latencies();
        var errors = 0L;
        var cpu = Environment.CpuUsage.TotalTime;
        var clock = new RunClock();
        var end = TimeSpan.FromSeconds(seconds);
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(worker => Task.Run(async () =>
        {
            var samples = new List<double>();
            for (var n = 0; clock.Elapsed < end; n++)
            {
                var started = clock.Elapsed;
                try
                {
                    await put($"bench/{run}/{worker}/{n}", value);
                    samples.Add((clock.Elapsed - started).TotalMilliseconds);
                }
                catch (Exception error) when (error is RpcException or StoreUnavailableException)
                {
                    Interlocked.Increment(ref errors);
                }
            }

            latencies.AddRange(samples);
        })));
        var elapsed = clock.Elapsed.TotalSeconds;
        Report.Result(mode, $"concurrency={concurrency} seconds={elapsed:F1} ops={latencies.Count} rate={latencies.Count / elapsed:F0}/s {latencies.Summary()} errors={errors} {Report.ClientCpu(cpu, latencies.Count)}");
        return errors == 0 ? 0 : 1;
    }
}
