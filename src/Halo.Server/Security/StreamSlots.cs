using System.Collections.Concurrent;
using Halo.Core.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Halo.Server.Security;

/// <summary>
/// Marks a route whose request stays open (an SSE stream, or a blocking query when <see cref="WhenQuery"/> is present):
/// it takes one of the caller's stream slots for as long as it runs.
/// </summary>
public sealed record HoldsStream(string? WhenQuery = null)
{
    public bool AppliesTo(HttpRequest request) => WhenQuery is null || request.Query.ContainsKey(WhenQuery);
}

/// <summary>Declares a long-lived route when it is mapped.</summary>
public static class HoldsStreamExtensions
{
    /// <summary>The route holds a stream slot always (<paramref name="whenQuery"/> null) or when that query parameter is given.</summary>
    public static TBuilder HoldsStream<TBuilder>(this TBuilder builder, string? whenQuery = null)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new HoldsStream(whenQuery));
}

/// <summary>
/// Counts open streams per token and in total against <see cref="LimitOptions.MaxStreamsPerToken"/> and
/// <see cref="LimitOptions.MaxStreams"/>. A caller past either cap is answered 429 at once, so 10,000 watch attempts cost
/// 10,000 short answers, not 10,000 subscriptions. Per-token counters live as long as the token name (few).
/// </summary>
internal sealed class StreamSlots(SecurityOptions security)
{
    private readonly ConcurrentDictionary<string, Counter> _perToken = new(StringComparer.Ordinal);
    private int _total;

    private sealed class Counter
    {
        public int Open;
    }

    /// <summary>Streams open now, all tokens together.</summary>
    public int Open => Volatile.Read(ref _total);

    /// <summary>Takes a slot for <paramref name="token"/>, or returns the config key of the cap that refused it.</summary>
    public bool TryEnter(string token, out string refusedBy)
    {
        var limits = security.Limits;
        var counter = _perToken.GetOrAdd(token, _ => new Counter());
        if (Interlocked.Increment(ref counter.Open) > limits.MaxStreamsPerToken)
        {
            Interlocked.Decrement(ref counter.Open);
            refusedBy = "limits.maxStreamsPerToken";
            return false;
        }

        if (Interlocked.Increment(ref _total) > limits.MaxStreams)
        {
            Interlocked.Decrement(ref _total);
            Interlocked.Decrement(ref counter.Open);
            refusedBy = "limits.maxStreams";
            return false;
        }

        refusedBy = "";
        return true;
    }

    public void Leave(string token)
    {
        Interlocked.Decrement(ref _total);
        if (_perToken.TryGetValue(token, out var counter))
        {
            Interlocked.Decrement(ref counter.Open);
        }
    }
}
