using System.Globalization;

namespace Halo.Chaos;

/// <summary>The faults the runner injects, one per trial (issue 10, "bench/chaos").</summary>
public enum FaultKind
{
    /// <summary>kill -9 of the primary's redis-server (its agent restarts it after the failover).</summary>
    KillPrimary,
    /// <summary>SIGSTOP of the primary's redis-server for 1–5 s, then SIGCONT: it must not take writes once a successor exists.</summary>
    PausePrimary,
    /// <summary>kill -9 of one agent alone (its database keeps running), restarted 1–3 s later.</summary>
    KillAgent,
    /// <summary>kill -9 of `halo server`, restarted 1–3 s later.</summary>
    RestartServer,
    /// <summary>stress-ng --cpu 4 for 2–6 s: nothing else failing, nothing may happen.</summary>
    CpuStarvation,
    /// <summary>kill -9 of the primary's redis-server 1 s into 3–6 s of stress-ng --cpu 4 (decisions under starvation).</summary>
    KillPrimaryStarved,
    /// <summary>The link between an agent and the server cut one way or both ways for 1–5 s.</summary>
    CutAgentServer,
    /// <summary>The link to a database (from the proxy and from the replicas) cut one way or both ways for 1–5 s.</summary>
    CutProxyDatabase,
}

/// <summary>One trial's fault, drawn from the seed.</summary>
public sealed record FaultPlan(FaultKind Kind, bool OnPrimary, Cut Cut, TimeSpan Duration)
{
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

    public static bool TryParse(string name, out FaultKind kind)
    {
        foreach (var k in Enum.GetValues<FaultKind>())
        {
            if (Name(k) == name)
            {
                kind = k;
                return true;
            }
        }

        kind = default;
        return false;
    }

    public static FaultPlan Draw(Random rng, IReadOnlyList<FaultKind> kinds)
    {
        ArgumentNullException.ThrowIfNull(rng);
        var kind = kinds[rng.Next(kinds.Count)];
        TimeSpan Between(double a, double b) => TimeSpan.FromSeconds(a + rng.NextDouble() * (b - a));
        var cut = (Cut)rng.Next(1, 4);
        return kind switch
        {
            FaultKind.PausePrimary => new(kind, true, Cut.None, Between(1, 5)),
            FaultKind.KillAgent => new(kind, rng.Next(2) == 0, Cut.None, Between(1, 3)),
            FaultKind.RestartServer => new(kind, false, Cut.None, Between(1, 3)),
            FaultKind.CpuStarvation => new(kind, false, Cut.None, Between(2, 6)),
            FaultKind.KillPrimaryStarved => new(kind, true, Cut.None, Between(3, 6)),
            FaultKind.CutAgentServer or FaultKind.CutProxyDatabase => new(kind, rng.NextDouble() < 0.7, cut, Between(1, 5)),
            _ => new(kind, true, Cut.None, TimeSpan.Zero),
        };
    }

    public override string ToString() => Name(Kind) + (Kind is FaultKind.KillAgent or FaultKind.CutAgentServer or FaultKind.CutProxyDatabase ? $" of a {(OnPrimary ? "primary" : "replica")}" : "") +
        (Cut == Cut.None ? "" : $" cut {Cut}") + (Duration > TimeSpan.Zero ? $" for {Duration.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s" : "");
}
