using Halo.Core;
using Halo.Core.Monitoring;
using Halo.Core.Registry;
using Halo.Server.Api;
using Halo.Server.Cluster;
using Halo.Server.Events;
using Halo.Server.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Halo.Server.Availability;

/// <summary>
/// GET /v1/availability: measured availability of each service over the last hour and day (or the windows asked
/// for), computed from the event history by <see cref="AvailabilityCalculator"/>.
/// </summary>
internal static class AvailabilityEndpoints
{
    private static readonly TimeSpan[] DefaultWindows = [TimeSpan.FromHours(1), TimeSpan.FromDays(1)];
    private static readonly TimeSpan Shortest = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan Longest = TimeSpan.FromDays(30);

    public static void MapAvailability(this IEndpointRouteBuilder app) => app.MapGet("/v1/availability", GetAsync).RequireRole(HaloRole.Read);

    private static async Task<IResult> GetAsync(
        string? window, string? service, EventLog events, StoreFollower follower, ServerOptions options, TimeProvider time, CancellationToken ct)
    {
        var windows = DefaultWindows;
        if (window is not null)
        {
            var parts = window.Split(',', StringSplitOptions.TrimEntries);
            windows = new TimeSpan[parts.Length];
            for (var i = 0; i < parts.Length; i++)
            {
                if (parts.Length > 8 || !Durations.TryParse(parts[i], out windows[i]) || windows[i] < Shortest || windows[i] > Longest)
                {
                    return Problems.Invalid("window", "must be 1 to 8 comma-separated durations between 1m and 30d, e.g. 1h,1d");
                }
            }
        }

        if (service is not null && !Names.IsValid(service))
        {
            return Problems.Invalid("service", $"invalid service name: {Names.Rule}");
        }

        // The whole retained history: the state at a window's start depends on events before it.
        await follower.CatchUpAsync(EventEndpoints.CatchUpWait, ct);
        var history = events.History(service);
        var changes = RegistryEventStates.FromHistory(history);
        var now = time.GetUtcNow();
        var bySubject = new SortedDictionary<string, Dictionary<string, object?>>(StringComparer.Ordinal);
        foreach (var span in windows)
        {
            var label = Label(span);
            foreach (var s in AvailabilityCalculator.Compute(changes, now - span, now))
            {
                if (!bySubject.TryGetValue(s.Subject, out var perWindow))
                {
                    bySubject[s.Subject] = perWindow = [];
                }

                perWindow[label] = new
                {
                    availability = s.Availability,
                    memberAvailability = s.MemberAvailability,
                    observedSeconds = Math.Round(s.Observed.TotalSeconds, 3),
                    downSeconds = Math.Round(s.Down.TotalSeconds, 3),
                    outages = s.Outages,
                    longestOutageSeconds = Math.Round(s.LongestOutage.TotalSeconds, 3),
                };
            }
        }

        return TypedResults.Ok(new
        {
            at = now,
            windows = windows.Select(Label).ToList(),
            oldestEvent = history.Count > 0 ? history[0].Time : (DateTimeOffset?)null,
            services = bySubject.Select(kv => new
            {
                name = kv.Key, kind = "service", windows = kv.Value,
                predicted = options.PredictedAvailability.TryGetValue(kv.Key, out var p) ? p : (double?)null,
            }).ToList(),
        });
    }

    /// <summary>"1h", "1d", "90m": the unit operators write, so the dashboard can show the key as is.</summary>
    private static string Label(TimeSpan span) =>
        span.Ticks % TimeSpan.TicksPerDay == 0 ? $"{span.Days}d"
        : span.Ticks % TimeSpan.TicksPerHour == 0 ? $"{(long)span.TotalHours}h"
        : Durations.Format(span);
}
