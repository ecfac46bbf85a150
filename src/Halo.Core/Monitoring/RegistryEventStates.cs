using Halo.Core.Registry;

namespace Halo.Core.Monitoring;

/// <summary>
/// Turns the registry's event history into member state changes for <see cref="AvailabilityCalculator"/>.
/// Stateful only to tell a first registration (the member appears, passing) from a re-registration (health carries over).
/// </summary>
public sealed class RegistryEventStates
{
    private readonly HashSet<(string Service, string Instance)> _known = [];

    /// <summary>The change <paramref name="e"/> implies, or null when it changes no member's state (draining, brake, alerts).</summary>
    public MemberStateChange? Translate(RegistryEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        if (e.Instance is not { } instance)
        {
            return null;
        }

        var key = (e.Service, instance);
        MemberState? state = e.Type switch
        {
            EventTypes.Registered when _known.Add(key) => MemberState.Up,
            EventTypes.Health => e.To == "critical" ? MemberState.Down : MemberState.Up,
            EventTypes.Deregistered or EventTypes.Removed => MemberState.Gone,
            _ => null,
        };
        if (state is not { } s)
        {
            return null;
        }

        if (s == MemberState.Gone)
        {
            _known.Remove(key);
        }
        else
        {
            // A health event for a member whose registration was pruned from history still makes it known.
            _known.Add(key);
        }

        return new MemberStateChange(e.Time, e.Service, instance, s);
    }

    /// <summary>Translates a whole history in order.</summary>
    public static IReadOnlyList<MemberStateChange> FromHistory(IEnumerable<RegistryEvent> history)
    {
        var states = new RegistryEventStates();
        return history.Select(states.Translate).OfType<MemberStateChange>().ToList();
    }
}
