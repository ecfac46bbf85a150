using Halo.Core.Monitoring;
using Halo.Core.Registry;

namespace Halo.Core.Tests.Monitoring;

public sealed class AvailabilityCalculatorTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 10, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset End = Start.AddHours(1);

    private static DateTimeOffset At(int minute) => Start.AddMinutes(minute);

    private static RegistryEvent Event(int minute, string type, string service, string instance, string? to = null) =>
        new() { Time = At(minute), Type = type, Service = service, Instance = instance, To = to };

    /// <summary>
    /// The hand-computed example of docs/monitoring.md, window 10:00–11:00.
    /// web: web-1 and web-2 registered at 09:50.
    ///   10:10 web-1 critical (web-2 still serves); 10:20 web-2 critical → web down;
    ///   10:26 web-1 passing → up (outage 1: 6 min); 10:40 web-2 passing;
    ///   10:55 web-2 critical; 10:57 web-1 critical → down to the end (outage 2: 3 min).
    ///   Down 9 of 60 min → 51/60 = 0.85. Instance-minutes down: web-1 16+3, web-2 20+5 = 44 of 120 → 76/120.
    /// api: registered 10:30 (unobserved before), critical 10:45, deregistered 10:50 (unobserved after).
    ///   Observed 20 min, down 5 → 15/20 = 0.75.
    /// </summary>
    private static readonly RegistryEvent[] Example =
    [
        Event(-10, EventTypes.Registered, "web", "web-1"),
        Event(-10, EventTypes.Registered, "web", "web-2"),
        Event(10, EventTypes.Health, "web", "web-1", "critical"),
        Event(20, EventTypes.Health, "web", "web-2", "critical"),
        Event(26, EventTypes.Health, "web", "web-1", "passing"),
        Event(30, EventTypes.Registered, "api", "api-1"),
        Event(40, EventTypes.Health, "web", "web-2", "passing"),
        Event(45, EventTypes.Health, "api", "api-1", "critical"),
        Event(50, EventTypes.Deregistered, "api", "api-1"),
        Event(55, EventTypes.Health, "web", "web-2", "critical"),
        Event(57, EventTypes.Health, "web", "web-1", "critical"),
    ];

    [Fact]
    public void Compute_HandComputedExample_MatchesByHand()
    {
        var result = AvailabilityCalculator.Compute(RegistryEventStates.FromHistory(Example), Start, End);

        Assert.Equal(["api", "web"], result.Select(r => r.Subject));
        var web = result[1];
        Assert.Equal(TimeSpan.FromMinutes(60), web.Observed);
        Assert.Equal(TimeSpan.FromMinutes(9), web.Down);
        Assert.Equal(2, web.Outages);
        Assert.Equal(TimeSpan.FromMinutes(6), web.LongestOutage);
        Assert.Equal(0.85, web.Availability!.Value, 12);
        Assert.Equal(76.0 / 120.0, web.MemberAvailability!.Value, 12);

        var api = result[0];
        Assert.Equal(TimeSpan.FromMinutes(20), api.Observed);
        Assert.Equal(TimeSpan.FromMinutes(5), api.Down);
        Assert.Equal(1, api.Outages);
        Assert.Equal(0.75, api.Availability!.Value, 12);
    }

    [Fact]
    public void Compute_OutageSpanningWindowStart_CountsOnlyTheClippedPart()
    {
        // Down since 09:30, back at 10:15: 15 minutes of it fall in the window.
        var changes = new[]
        {
            new MemberStateChange(At(-40), "db", "db-1", MemberState.Up),
            new MemberStateChange(At(-30), "db", "db-1", MemberState.Down),
            new MemberStateChange(At(15), "db", "db-1", MemberState.Up),
        };

        var db = Assert.Single(AvailabilityCalculator.Compute(changes, Start, End));

        Assert.Equal(TimeSpan.FromMinutes(15), db.Down);
        Assert.Equal(1, db.Outages);
        Assert.Equal(0.75, db.Availability!.Value, 12);
    }

    [Fact]
    public void Compute_ChangesAfterWindowEnd_Ignored()
    {
        var changes = new[]
        {
            new MemberStateChange(At(0), "db", "db-1", MemberState.Up),
            new MemberStateChange(At(90), "db", "db-1", MemberState.Down),
        };

        var db = Assert.Single(AvailabilityCalculator.Compute(changes, Start, End));

        Assert.Equal(1.0, db.Availability);
        Assert.Equal(0, db.Outages);
    }

    [Fact]
    public void Compute_MinimumUpTwo_DownWhenOnlyOneServes()
    {
        var changes = new[]
        {
            new MemberStateChange(At(0), "kv", "a", MemberState.Up),
            new MemberStateChange(At(0), "kv", "b", MemberState.Up),
            new MemberStateChange(At(30), "kv", "b", MemberState.Down),
        };

        var kv = Assert.Single(AvailabilityCalculator.Compute(changes, Start, End, minimumUp: 2));

        Assert.Equal(0.5, kv.Availability!.Value, 12);
    }

    [Fact]
    public void Compute_SubjectGoneBeforeWindow_NotObserved()
    {
        var changes = new[]
        {
            new MemberStateChange(At(-30), "old", "o-1", MemberState.Up),
            new MemberStateChange(At(-20), "old", "o-1", MemberState.Gone),
        };

        var old = Assert.Single(AvailabilityCalculator.Compute(changes, Start, End));

        Assert.Equal(TimeSpan.Zero, old.Observed);
        Assert.Null(old.Availability);
        Assert.Null(old.MemberAvailability);
    }

    [Fact]
    public void Compute_EndBeforeStart_Throws() =>
        Assert.Throws<ArgumentException>(() => AvailabilityCalculator.Compute([], End, Start));

    [Fact]
    public void Translate_ReRegistration_KeepsCriticalState()
    {
        var history = new[]
        {
            Event(0, EventTypes.Registered, "web", "web-1"),
            Event(10, EventTypes.Health, "web", "web-1", "critical"),
            Event(20, EventTypes.Registered, "web", "web-1"),
        };

        var changes = RegistryEventStates.FromHistory(history);

        Assert.Equal([MemberState.Up, MemberState.Down], changes.Select(c => c.State));
    }

    [Fact]
    public void Translate_SuspectAndDraining_CountAsServing()
    {
        var history = new[]
        {
            Event(0, EventTypes.Registered, "web", "web-1"),
            Event(10, EventTypes.Health, "web", "web-1", "suspect"),
            Event(20, EventTypes.Draining, "web", "web-1"),
        };

        var web = Assert.Single(AvailabilityCalculator.Compute(RegistryEventStates.FromHistory(history), Start, End));

        Assert.Equal(1.0, web.Availability);
    }
}
