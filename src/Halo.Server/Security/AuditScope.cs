using Halo.Core.Registry;

namespace Halo.Server.Security;

/// <summary>
/// The caller of the mutating request in flight, flowing with the request's async context: every event its change
/// records is stamped with <see cref="RegistryEvent.Actor"/>, so the history says who did it in the same entry that
/// says what happened. A call that records no event of its own gets a separate `audit` event.
/// </summary>
internal sealed class AuditScope(EventActor actor)
{
    private static readonly AsyncLocal<AuditScope?> CurrentScope = new();

    public EventActor Actor { get; } = actor;

    /// <summary>Whether the request's change recorded an event (stamped) already.</summary>
    public bool Recorded { get; private set; }

    public static void Begin(EventActor actor) => CurrentScope.Value = new AuditScope(actor);

    public static AuditScope? Current => CurrentScope.Value;

    public static RegistryEvent Stamp(RegistryEvent e)
    {
        if (CurrentScope.Value is not { } scope)
        {
            return e;
        }

        scope.Recorded = true;
        return e.Actor is null ? e with { Actor = scope.Actor } : e;
    }
}
