using Halo.Core.Configuration;

namespace Halo.Core.Availability;

/// <summary>One term of the failover budget.</summary>
/// <param name="Phase">detection, decision, promotion or re-routing.</param>
/// <param name="Name">Short camelCase name of the term.</param>
/// <param name="Source">The configuration field the value comes from, e.g. <c>groups.cache.leaseTtl</c>; empty when none.</param>
/// <param name="Reason">Why this term is in the sum.</param>
public sealed record BudgetTerm(string Phase, string Name, TimeSpan Value, string Source, string Reason);

/// <summary>Worst-case time from a primary's last lease renewal to clients reaching the new primary.</summary>
public sealed record FailoverBudget(string Group, TimeSpan Total, IReadOnlyList<BudgetTerm> Terms)
{
    /// <summary>
    /// detection (lease lapses leaseTtl after the last renewal, seen on the controller's next tick)
    /// + decision (same tick: pick the freshest eligible replica, bump the epoch by compare-and-set)
    /// + promotion (bounded by promoteTimeout) + re-routing (bounded by rerouteBound).
    /// Detection is by lease, not by heartbeat: a primary that cannot renew demotes itself, so waiting for
    /// the lease is what makes the promotion safe (no split brain), and no faster signal may override it.
    /// </summary>
    public static FailoverBudget Compute(string group, GroupConfig config)
    {
        ArgumentNullException.ThrowIfNull(group);
        ArgumentNullException.ThrowIfNull(config);
        var prefix = $"groups.{group}.";
        BudgetTerm[] terms =
        [
            new("detection", "leaseLapse", config.LeaseTtl, prefix + "leaseTtl", "the primary's lease lapses this long after its last successful renewal"),
            new("detection", "controllerTick", config.ControllerInterval, prefix + "controllerInterval", "the controller sees the lapsed lease on its next tick"),
            new("decision", "candidateChoice", TimeSpan.Zero, prefix + "maxLagBytes",
                "made in that same tick: freshest replica within maxLagBytes, epoch bumped by compare-and-set (no configured wait; store latency not included)"),
            new("promotion", "promote", config.PromoteTimeout, prefix + "promoteTimeout", "longest wait for the chosen replica to confirm it is primary"),
            new("re-routing", "reroute", config.RerouteBound, prefix + "rerouteBound", "gateways route to the new epoch's primary within this bound"),
        ];
        var total = terms.Aggregate(TimeSpan.Zero, (sum, t) => sum + t.Value);
        return new FailoverBudget(group, total, terms);
    }
}
