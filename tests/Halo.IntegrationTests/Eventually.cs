using System.Diagnostics;

namespace Halo.IntegrationTests;

/// <summary>
/// The one bounded wait of the integration tests: poll a condition until it holds, or throw a TimeoutException naming what
/// was awaited. A cheap in-memory condition is polled every 10 ms; one that makes a request (HTTP, a database) every 200 ms.
/// Real processes on the wall clock, so a Stopwatch (fake clocks belong to the unit tests).
/// </summary>
internal static class Eventually
{
    public static async Task UntilAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            ThrowIfPast(clock, timeout, what);
            await Task.Delay(10);
        }
    }

    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            ThrowIfPast(clock, timeout, what);
            await Task.Delay(200);
        }
    }

    private static void ThrowIfPast(Stopwatch clock, TimeSpan timeout, string what)
    {
        if (clock.Elapsed > timeout)
        {
            throw new TimeoutException($"waited {timeout} for {what}");
        }
    }
}
