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
        BudgetTerm[] detection =
        [
            new("detection", "leaseLapse", config.LeaseTtl, prefix + "leaseTtl", "the primary's lease lapses this long after its last successful renewal"),
            new("detection", "controllerTick", config.ControllerInterval, prefix + "controllerInterval", "the controller sees the lapsed lease on its next tick"),
        ];
        return Sum(group, [.. detection, .. AfterDetection(prefix, config)]);
    }

    /// <summary>
    /// The database crashed and its agent lives (PostgreSQL postmaster killed): the agent's next probe sees it, its report wakes
    /// the controller, and no lease has to lapse — the rest is as after a lapsed lease.
    /// </summary>
    public static FailoverBudget ComputeCrash(string group, GroupConfig config)
    {
        ArgumentNullException.ThrowIfNull(group);
        ArgumentNullException.ThrowIfNull(config);
        var prefix = $"groups.{group}.";
        BudgetTerm[] detection =
        [
            new("detection", "agentProbe", config.AgentInterval, prefix + "agentInterval", "the primary's agent finds the database gone at its next probe and reports it at once"),
        ];
        return Sum(group, [.. detection, .. AfterDetection(prefix, config)]);
    }

    private static IEnumerable<BudgetTerm> AfterDetection(string prefix, GroupConfig config)
    {
        var postgres = config.Driver == "postgres";
        var sync = config.Synchronous != Failover.SynchronousMode.Off;
        if (postgres)
        {
            // Every candidate reports once more so the choice rests on WAL positions read after the failure; in synchronous mode the
            // rule will not promote without them, otherwise the controller stops waiting after 300 ms.
            var wait = sync ? config.AgentInterval : TimeSpan.FromTicks(Math.Min(config.AgentInterval.Ticks, TimeSpan.FromMilliseconds(300).Ticks));
            yield return new("decision", "finalPositions", wait, prefix + "agentInterval",
                sync ? "every synchronous standby reports a WAL position read after the failure (required to promote)" : "candidates report WAL positions read after the failure (at most 300 ms)");
        }

        yield return new("decision", "candidateChoice", TimeSpan.Zero, prefix + "maxLagBytes",
            "made in that same tick: freshest replica within maxLagBytes, epoch bumped by compare-and-set (no configured wait; store latency not included)");
        yield return new("promotion", "promote", config.PromoteTimeout, prefix + "promoteTimeout", "longest wait for the chosen replica to confirm it is primary");
        if (postgres && sync)
        {
            yield return new("promotion", "standbyReattach", config.AgentInterval + TimeSpan.FromMilliseconds(500), prefix + "agentInterval",
                "the first commit waits for a standby: its agent re-points it at the next report, the WAL receiver connects (retry interval 500 ms)");
        }

        yield return new("re-routing", "reroute", config.RerouteBound, prefix + "rerouteBound", "gateways route to the new epoch's primary within this bound");
    }

    private static FailoverBudget Sum(string group, BudgetTerm[] terms) =>
        new(group, terms.Aggregate(TimeSpan.Zero, (sum, t) => sum + t.Value), terms);
}
