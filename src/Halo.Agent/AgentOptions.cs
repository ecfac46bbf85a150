using Halo.Core.Failover;

namespace Halo.Agent;

/// <summary>How a `halo agent` runs beside one database.</summary>
public sealed record AgentOptions
{
    public required string Group { get; init; }
    public required string Member { get; init; }

    /// <summary>Probe and report interval. Default 100 ms; 10 ms – 10 s. Detection of a crashed database takes at most this long.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Longest one report to the server may take. Default 1 s. A primary's renewal counts from the moment its report was sent
    /// (<see cref="Core.Failover.FencingTiming"/>), so a slow answer that arrives still renews it: cutting it off earlier only
    /// throws renewals away on a loaded machine. A server that does not answer at all is left sooner, within the same report
    /// (<see cref="GroupAgent.ClientOptions"/>).
    /// </summary>
    public TimeSpan ReportTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// A primary's report not answered within this time is also sent to the next server (<see cref="Client.HaloHttp.HedgeAfter"/>),
    /// and once half its renew deadline has passed since its last renewal was sent, to every server at once: its renewal must
    /// not wait behind one slow or dying server (docs/ha.md, fencing timing). Default 200 ms; only with several servers.
    /// </summary>
    public TimeSpan ReportHedgeAfter { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// How long the database may keep failing to answer probes in time (a timeout, not a refused connection) before the agent
    /// reports it down. A CPU-starved or briefly busy database is slow, not gone; until then the agent reports its last answer
    /// (and does not answer a position round with it). Default 1 s; a crash (connection refused) is reported at once.
    /// </summary>
    public TimeSpan ProbeTimeoutGrace { get; init; } = AgentDefaults.ProbeTimeoutGrace;

    /// <summary>How often the fencing watchdog checks the renew deadline. Default 20 ms.</summary>
    public TimeSpan WatchdogInterval { get; init; } = TimeSpan.FromMilliseconds(20);

    /// <summary>
    /// The failsafe (docs/ha.md, "The data path outlives the control plane"): as a primary, keep accepting writes when no server
    /// renews the lease while every other member's agent promises it follows this primary in this epoch; as a replica, give
    /// such promises. Needs <see cref="FailsafeAddress"/>. Off unless set here; `halo agent` sets it (its --failsafe is on by default).
    /// </summary>
    public bool Failsafe { get; init; }

    /// <summary>host:port where this agent's failsafe endpoint listens (<see cref="FailsafeListener"/>), reported to the decider.</summary>
    public string? FailsafeAddress { get; init; }
}
