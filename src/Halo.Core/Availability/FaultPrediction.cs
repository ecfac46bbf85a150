using Halo.Core.Configuration;
using Halo.Core.Failover;

namespace Halo.Core.Availability;

/// <summary>The faults whose time to the first acknowledged write Halo predicts; bench/chaos injects each (docs/failover.md).</summary>
public enum FaultKind
{
    /// <summary>kill -9 of the primary's database; its agent lives.</summary>
    KillPrimary,
    /// <summary>SIGSTOP of the primary's database for a while, then SIGCONT.</summary>
    PausePrimary,
    /// <summary>kill -9 of one agent alone (its database keeps running), restarted a while later.</summary>
    KillAgent,
    /// <summary>kill -9 of the (only) control-plane server, restarted a while later.</summary>
    RestartServer,
    /// <summary>CPU starvation of the whole machine, nothing else failing.</summary>
    CpuStarvation,
    /// <summary>kill -9 of the primary's database one second into CPU starvation.</summary>
    KillPrimaryStarved,
    /// <summary>The link between an agent and the server cut for a while (both ways, or one way).</summary>
    CutAgentServer,
    /// <summary>The link to a database from the proxy and the replicas cut for a while (either way).</summary>
    CutProxyDatabase,
}

/// <summary>
/// One fault: its kind, whether it hits the primary's member, how long it lasts, for an agent-server cut whether only the
/// server's answers are lost, and for a server restart how long the server took to answer again when the caller measured it
/// (bench/chaos does; otherwise <see cref="FaultPrediction.ServerStart"/>).
/// </summary>
public sealed record FaultShape(FaultKind Kind, bool OnPrimary = true, TimeSpan Duration = default, bool AnswersOnly = false, TimeSpan? ServerStart = null);

/// <summary>
/// Typical (median, not worst-case) time from a fault to the first write acknowledged again through the proxy (docs/failover.md,
/// "Predicted vs measured"), from the group's configuration plus a few measured constants of this implementation. Where the
/// fault lasts a while, the prediction is the earlier of "the fault ends" and "the failover it triggers completes". Null when no
/// write is expected to be refused (a replica's fault, a fault shorter than the fencing deadline, starvation alone).
/// </summary>
public static class FaultPrediction
{
    /// <summary>The agent's Redis command timeout (built in, `halo agent`): a stopped database is first noticed after it.</summary>
    public static readonly TimeSpan ProbeTimeout = AgentDefaults.RedisProbeTimeout;

    /// <summary>The agent's probe-timeout grace (AgentOptions.ProbeTimeoutGrace default): slow is reported down only after it.</summary>
    public static readonly TimeSpan ProbeTimeoutGrace = AgentDefaults.ProbeTimeoutGrace;

    /// <summary>
    /// Measured: from the controller seeing a trigger to the first acknowledged write — the position round's answers, the epoch
    /// compare-and-set, the new primary's renewal, promotion and confirmation, the proxy's switch, the replicas re-pointed and
    /// synced, one SET + WAIT. A handful of loopback round trips plus Redis' partial resync; calibrated on the chaos runs.
    /// </summary>
    public static readonly TimeSpan Takeover = TimeSpan.FromMilliseconds(400);

    /// <summary>
    /// Measured: `halo server` from exec to answering (a .NET start and the store's open) on the 2-core test machine when it is not
    /// crowded; at load 50-70 it took 10-20 s, which is why bench/chaos measures it per trial instead.
    /// </summary>
    public static readonly TimeSpan ServerStart = TimeSpan.FromSeconds(1.5);

    /// <summary>
    /// Measured: after a restarted server answers, the lease it restored (full TTL from the store's open) has lapsed or soon does
    /// (the agents' first reports time out against a server still warming up), so a failover follows: the position round waits out
    /// its answer window once (PositionWait, 1 s) before the fenced former primary's answer or the replicas' decide it.
    /// </summary>
    public static readonly TimeSpan AfterServerStart = TimeSpan.FromSeconds(1);

    /// <summary>Measured: `halo agent` from exec to its first report.</summary>
    public static readonly TimeSpan AgentStart = TimeSpan.FromSeconds(1);

    /// <summary>Measured: how much longer the takeover steps take while stress-ng starves both cores.</summary>
    public const double StarvedSlowdown = 1.5;

    /// <summary>The chaos runner kills the primary this long into the starvation.</summary>
    public static readonly TimeSpan StarvedKillDelay = TimeSpan.FromSeconds(1);

    public static FailoverBudget? Predict(string group, GroupConfig config, FaultShape fault)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(fault);
        var p = $"groups.{group}.";
        var name = $"{group} ({Name(fault.Kind)})";
        var halfProbe = new BudgetTerm("detection", "agentProbe", config.AgentInterval / 2, p + "agentInterval", "the agent's next probe (half an interval on average)");
        var takeover = new BudgetTerm("takeover", "takeover", Takeover, "", "round answers, epoch CAS, promotion, confirmation, proxy switch, replicas synced (measured)");
        var lease = new BudgetTerm("detection", "leaseLapse", config.LeaseTtl - config.AgentInterval / 2, p + "leaseTtl",
            "the lease lapses leaseTtl after the last renewal (sent half an agent interval before the fault on average)");
        var fenceAt = FencingTiming.RenewDeadline(config.LeaseTtl) - config.AgentInterval / 2;
        var lasts = new BudgetTerm("fault", "faultEnds", fault.Duration, "", "the fault ends; the next report or reconnect restores writes");
        if (!fault.OnPrimary && fault.Kind is FaultKind.KillAgent or FaultKind.CutAgentServer or FaultKind.CutProxyDatabase)
        {
            return null; // WAIT 1 is met by the other replica; nothing about the primary changes
        }

        switch (fault.Kind)
        {
            case FaultKind.KillPrimary:
                return Sum(name, halfProbe, takeover);
            case FaultKind.KillPrimaryStarved:
                return Sum(name, new("fault", "starvedBeforeKill", StarvedKillDelay, "", "the runner kills the primary 1 s into the starvation"), halfProbe,
                    takeover with { Value = Takeover * StarvedSlowdown, Reason = takeover.Reason + $", {StarvedSlowdown}x slower starved (measured)" });
            case FaultKind.PausePrimary:
                BudgetTerm[] failover =
                [
                    halfProbe, new("detection", "probeTimeout", ProbeTimeout, "", "the first probe of the stopped database times out"),
                    new("detection", "probeTimeoutGrace", ProbeTimeoutGrace, "", "slow is reported down only after the agent's grace"), takeover,
                ];
                return Earlier(name, [lasts], failover);
            case FaultKind.KillAgent:
                var restarted = new BudgetTerm("fault", "agentRestart", fault.Duration + AgentStart, "", "the agent is restarted and reports (measured start)");
                return restarted.Value < lease.Value ? Sum(name, restarted, halfProbe) : Sum(name, lease, takeover);
            case FaultKind.RestartServer:
                return Sum(name, lasts with { Name = "serverDown" },
                    new("fault", "serverStart", fault.ServerStart ?? ServerStart, "", fault.ServerStart is null ? "the server starts again (measured, uncrowded)" : "the server starts again (measured in this trial)"),
                    new("detection", "restoredLeaseRound", AfterServerStart, "", "the restored lease lapses; the position round waits out its answer window once (measured)"), takeover);
            case FaultKind.CutAgentServer:
                if (fault.Duration < fenceAt)
                {
                    return null; // healed before the agent's renew deadline: it never fences
                }

                var fenced = new BudgetTerm("detection", "renewDeadline", fenceAt, p + "leaseTtl", "the agent fences at the renew deadline (leaseTtl minus the margin)");
                BudgetTerm[] replaced = fault.AnswersOnly
                    ? [fenced, new("detection", "fencedPrimaryGrace", FailoverPlanner.FencedPrimaryGrace, "", "the controller replaces a primary reporting itself fenced"), takeover]
                    : [lease, takeover];
                return Earlier(name, [lasts, halfProbe with { Value = config.AgentInterval, Reason = "the next report renews the lease and lifts the fence" }], replaced);
            case FaultKind.CutProxyDatabase:
                return Sum(name, lasts); // measured: the writers and the replicas' reset links reconnect within tens of milliseconds
            default:
                return null; // CPU starvation alone: slower, not refused
        }
    }

    public static string Name(FaultKind kind) => kind switch
    {
        FaultKind.KillPrimary => "kill-primary",
        FaultKind.PausePrimary => "pause-primary",
        FaultKind.KillAgent => "kill-agent",
        FaultKind.RestartServer => "restart-server",
        FaultKind.CpuStarvation => "cpu-starvation",
        FaultKind.KillPrimaryStarved => "kill-primary-starved",
        FaultKind.CutAgentServer => "cut-agent-server",
        FaultKind.CutProxyDatabase => "cut-proxy-db",
        _ => kind.ToString(),
    };

    private static FailoverBudget Sum(string name, params BudgetTerm[] terms) => new(name, terms.Aggregate(TimeSpan.Zero, (s, t) => s + t.Value), terms);

    /// <summary>Whichever path restores writes first: the fault ending, or the failover it triggers.</summary>
    private static FailoverBudget Earlier(string name, BudgetTerm[] healed, BudgetTerm[] failover)
    {
        var a = Sum(name, healed);
        var b = Sum(name, failover);
        return a.Total <= b.Total ? a : b;
    }
}
