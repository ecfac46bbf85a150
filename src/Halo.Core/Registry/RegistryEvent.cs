namespace Halo.Core.Registry;

/// <summary>One entry of the event history: what happened, why, and the evidence behind it.</summary>
public sealed record RegistryEvent
{
    /// <summary>registered, deregistered, health, draining, removed, brake-engaged, brake-released, report.</summary>
    public required string Type { get; init; }
    public required DateTimeOffset Time { get; init; }
    public required string Service { get; init; }
    public string? Instance { get; init; }
    public string? From { get; init; }
    public string? To { get; init; }
    public string? Cause { get; init; }
    public IReadOnlyDictionary<string, object?>? Evidence { get; init; }

    /// <summary>The store revision at which the event was recorded (set when read back).</summary>
    public long Revision { get; init; }
}

public static class EventTypes
{
    public const string Registered = "registered";
    public const string Deregistered = "deregistered";
    public const string Health = "health";
    public const string Draining = "draining";
    public const string Removed = "removed";
    public const string BrakeEngaged = "brake-engaged";
    public const string BrakeReleased = "brake-released";
    public const string Report = "report";
}
