namespace Halo.Core.Failover;

/// <summary>
/// A member as the controller last heard of it; times are on the server's clock. <paramref name="Timeline"/> is the database's
/// history branch (PostgreSQL timeline; 0 when the driver has none). <paramref name="PositionFinal"/> says the offset was read after
/// the failure was detected (it answered the open position round). <paramref name="Bootstrappable"/>: no database yet, ready to be
/// initialised if elected first primary. <paramref name="Round"/> is the newest position round its last report answered
/// (see <see cref="PositionRound"/>). <paramref name="PrimaryOfEpoch"/>: the epoch whose primary this member's database has been, without
/// a restart since (see <see cref="MemberReport.PrimaryOfEpoch"/>); <paramref name="Following"/>: the address a replica replicates from.
/// </summary>
public sealed record MemberState(
    string Name, string Address, DateTimeOffset LastReport, MemberRole Role, long Epoch, bool DbUp, bool Healthy, long Offset,
    DateTimeOffset? DbDownSince = null, DateTimeOffset? DemotedAt = null, long Timeline = 0, bool PositionFinal = true, bool Bootstrappable = false,
    long Round = 0, DateTimeOffset? FencedSince = null, long PrimaryOfEpoch = 0, string? Following = null);

/// <summary>
/// Everything one controller decision looks at; <paramref name="Sync"/> is the group's synchronous-standby record, if any;
/// <paramref name="Confirmed"/>: the leader's agent has reported its database a writable primary in the current epoch.
/// </summary>
public sealed record GroupView(
    GroupPolicy Policy, LeaderRecord? Leader, bool LeaseAlive, IReadOnlyList<MemberState> Members, DateTimeOffset Now, SyncRecord? Sync = null,
    bool Confirmed = false);

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

        // The primary's agent fenced its database itself although the lease is alive: it no longer hears the server's answers (a
        // one-way cut: its reports arrive and renew the lease, the answers are lost). Nobody takes writes until a successor does.
        // Only after it confirmed its promotion: a newly chosen primary is fenced until its agent promotes it.
        if (view.Confirmed && fresh && primary!.DbUp && primary.Role == MemberRole.Primary && primary.Epoch == view.Leader.Epoch &&
            primary.FencedSince is { } fenced && view.Now - fenced >= FencedPrimaryGrace)
        {
            return Choose(view, FailoverAction.Failover, "primary-fenced");
        }

        return FailoverDecision.Nothing(fresh ? "primary healthy" : "primary silent, lease still valid");
    }

    /// <summary>
    /// How long the primary may report its database fenced (outside a switchover) before the controller replaces it: longer than
    /// the agent needs to lift a fence once it hears a renewal again (one report), short against the lease TTL.
    /// </summary>
    public static readonly TimeSpan FencedPrimaryGrace = TimeSpan.FromMilliseconds(300);

    private static FailoverDecision Choose(GroupView view, FailoverAction action, string cause)
    {
        var (ranked, skipped) = CandidateSelector.Rank(view);
        return ranked.Count > 0
            ? new FailoverDecision(action, ranked[0].Name, cause, skipped)
            : new FailoverDecision(FailoverAction.Wait, null, cause, skipped);
    }
}
