using System.Diagnostics;

namespace Halo.Store.Tests;

/// <summary>Bounded waits: a condition that never comes true fails the test instead of hanging it.</summary>
internal static class TestWait
{
    public static readonly TimeSpan Default = TimeSpan.FromSeconds(10);

    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan? timeout = null, string? because = null)
    {
        var limit = timeout ?? Default;
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > limit)
            {
                Assert.Fail($"condition not met within {limit}: {because}");
            }

            await Task.Delay(20);
        }
    }

    /// <summary>Reads exactly <paramref name="count"/> events from a running watch, or fails after the timeout.</summary>
    public static async Task<List<WatchEvent>> TakeAsync(IAsyncEnumerator<WatchEvent> watch, int count, TimeSpan? timeout = null)
    {
        var events = new List<WatchEvent>();
        var limit = timeout ?? Default;
        while (events.Count < count)
        {
            var next = watch.MoveNextAsync().AsTask();
            if (await Task.WhenAny(next, Task.Delay(limit)) != next)
            {
                Assert.Fail($"watch delivered {events.Count} of {count} events within {limit}: {Describe(events)}");
            }

            Assert.True(await next, "watch ended early");
            events.Add(watch.Current);
        }

        return events;
    }

    public static string Describe(IEnumerable<WatchEvent> events) =>
        string.Join(", ", events.Select(e => $"{e.Type} {e.Item.Key}@{e.Item.ModRevision}"));
}
