using System.Collections.Concurrent;
using System.Net;

namespace Halo.Server.Security;

/// <summary>
/// Counts failed authentications per source in fixed 10 s windows; past the limit a source is refused (429) until its
/// window ends, so guessing tokens costs the guesser, not the server. Bounded: at most 10,000 sources are remembered.
/// </summary>
internal sealed class AuthFailureLimiter(SecurityOptions options, TimeProvider time)
{
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(10);
    private const int MaxSources = 10_000;

    private sealed class Count
    {
        public long WindowStart;
        public int Failures;
    }

    private readonly ConcurrentDictionary<IPAddress, Count> _sources = new();

    public bool IsLimited(IPAddress? source)
    {
        if (source is null || !_sources.TryGetValue(source, out var count))
        {
            return false;
        }

        lock (count)
        {
            return Current(count) && count.Failures >= options.AuthFailuresPerSource;
        }
    }

    public void Failed(IPAddress? source)
    {
        if (source is null)
        {
            return;
        }

        if (_sources.Count >= MaxSources)
        {
            _sources.Clear();
        }

        var count = _sources.GetOrAdd(source, _ => new Count());
        lock (count)
        {
            if (!Current(count))
            {
                count.WindowStart = time.GetTimestamp();
                count.Failures = 0;
            }

            count.Failures++;
        }
    }

    private bool Current(Count count) => count.Failures > 0 && time.GetElapsedTime(count.WindowStart) < Window;
}
