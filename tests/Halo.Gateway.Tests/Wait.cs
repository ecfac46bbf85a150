namespace Halo.Gateway.Tests;

/// <summary>Bounded waits: a condition that never comes true fails the test instead of hanging it.</summary>
internal static class Wait
{
    public static async Task UntilAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out after {timeout.TotalSeconds}s waiting for {what}");
            }

            await Task.Delay(20);
        }
    }
}
