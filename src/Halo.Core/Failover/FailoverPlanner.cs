namespace Halo.Core.Failover;

/// <summary>
/// A member as the controller last heard of it; times are on the server's clock. <paramref name="Timeline"/> is the database's
/// history branch (PostgreSQL timeline; 0 when the driver has none). <paramref name="PositionFinal"/> says the offset was read after
/// the failure was detected (it answered the open position round). <paramref name="Bootstrappable"/>: no database yet, ready to be
/// initialised if elected first primary. <paramref name="Round"/> is the newest position round its last report answered
/// (see <see cref="PositionRound"/>).
/// </summary>
public sealed record MemberState(
    string Name, string Address, DateTimeOffset LastReport, MemberRole Role, long Epoch, bool DbUp, bool Healthy, long Offset,
    DateTimeOffset? DbDownSince = null, DateTimeOffset? DemotedAt = null, long Timeline = 0, bool PositionFinal = true, bool Bootstrappable = false,
    long Round = 0);

/// <summary>Everything one controller decision looks at; <paramref name="Sync"/> is the group's synchronous-standby record, if any.</summary>
public sealed record GroupView(
    GroupPolicy Policy, LeaderRecord? Leader, bool LeaseAlive, IReadOnlyList<MemberState> Members, DateTimeOffset Now, SyncRecord? Sync = null);

public enum FailoverAction
{
    None,
    /// <summary>No leader yet: elect the first primary.</summary>
    Elect,
    Failover,
    /// <summary>A failover is needed but no member qualifies on what the controller knows now.</summary>
    Wait,
}

public sealed record FailoverDecision(FailoverAction Action, string? To, string Cause, IReadOnlyDictionary<string, string> Skipped)
{
    public static FailoverDecision Nothing(string cause) => new(FailoverAction.None, null, cause, new Dictionary<string, string>());
}

/// <summary>
/// The controller's rule, pure: fail over when the primary's lease lapsed (agent or node gone, or cut off from the store)
/// or when its agent reports the database down for longer than the restart grace; otherwise do nothing.
/// </summary>
public static class FailoverPlanner
{
    public static FailoverDecision Decide(GroupView view)
    {
        ArgumentNullException.ThrowIfNull(view);
        if (view.Policy.Paused)
        {
            return FailoverDecision.Nothing("paused");
        }

        if (view.Leader is null)
        {
            if (view.Members.Count == 0)
            {
                return FailoverDecision.Nothing("no members yet");
            }

            return Choose(view, FailoverAction.Elect, "bootstrap");
        }

        var primary = view.Members.FirstOrDefault(m => m.Name == view.Leader.Member);
        if (!view.LeaseAlive)
        {
            return Choose(view, FailoverAction.Failover, "lease-expired");
        }

        var fresh = primary is not null && view.Now - primary.LastReport <= view.Policy.MemberTimeout;
        if (fresh && !primary!.DbUp && primary.DbDownSince is { } since && view.Now - since >= view.Policy.RestartGrace)
        {
            return Choose(view, FailoverAction.Failover, "db-down");
        }

        return FailoverDecision.Nothing(fresh ? "primary healthy" : "primary silent, lease still valid");
    }

    private static FailoverDecision Choose(GroupView view, FailoverAction action, string cause)
    {
        var (ranked, skipped) = CandidateSelector.Rank(view);
        return ranked.Count > 0
            ? new FailoverDecision(action, ranked[0].Name, cause, skipped)
            : new FailoverDecision(FailoverAction.Wait, null, cause, skipped);
    }
}
