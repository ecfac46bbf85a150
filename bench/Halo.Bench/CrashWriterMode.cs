using Halo.Store;
using System.Text;

namespace Halo.Bench;

/// <summary>
/// `crash-writer --dir D --prefix P --count N --concurrency C`: puts keys P00000000.. (value = key) on an EmbeddedStore and prints
/// "ack KEY" after each put returns. The durability test kills this process with SIGKILL mid-stream and
/// then checks that every key printed as acknowledged is on disk.
/// </summary>
internal static class CrashWriterMode
{
    public static async Task<int> RunAsync(Args args)
    {
        var dir = args.Require("--dir");
        var count = args.Int("--count", 100_000);
        var concurrency = args.Int("--concurrency", 8);
        var prefix = args.Get("--prefix") ?? "crash/";
        await using var store = await EmbeddedStore.OpenAsync(dir, new EmbeddedStoreOptions(), TimeProvider.System);
        var output = Console.Out;
        var gate = new Lock();
        var next = -1;
        Console.WriteLine("ready");
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                var key = $"{prefix}{i:D8}";
                await store.PutAsync(key, Encoding.UTF8.GetBytes(key));
                lock (gate)
                {
                    // Flushed per line: an ack still sitting in a buffer at kill time would be an ack nobody saw.
                    output.WriteLine("ack " + key);
                    output.Flush();
                }
            }
        }));
        return 0;
    }
}
