using Halo.Core;
using Halo.Cli.Configuration;
using Halo.Core.Availability;
using Halo.Core.Detection;

namespace Halo.Cli.Model;

/// <summary>A computed term with the configuration fields it comes from, for printing.</summary>
internal sealed record SourcedTerm(string Phase, string Name, TimeSpan Value, string Explanation, string Sources);

/// <summary>Detection bound of one detector: worst case until Critical, and the pause it tolerates.</summary>
internal sealed record DetectionPrediction(string Scope, string Kind, TimeSpan Bound, TimeSpan PauseBudget, IReadOnlyList<SourcedTerm> Terms);

/// <summary>
/// Failover budget of one group (worst case), or with <paramref name="Fault"/> the typical time from that fault to the first
/// acknowledged write (zero with no terms: no write refused).
/// </summary>
internal sealed record FailoverPrediction(string Group, TimeSpan Total, IReadOnlyList<SourcedTerm> Terms, string? Fault = null);

/// <summary>What <c>halo model --from-config</c> prints. The arithmetic is Halo.Core's; this adds config sources.</summary>
internal sealed record ConfigPrediction(IReadOnlyList<DetectionPrediction> Detection, IReadOnlyList<FailoverPrediction> Failover, IReadOnlyList<string> Notes)
{
    // Which options each DetectionBound term is computed from.
    private static readonly Dictionary<string, string[]> TermFields = new(StringComparer.Ordinal)
    {
        ["missedHeartbeats"] = ["heartbeatInterval", "missedHeartbeats"],
        ["meanInterval"] = ["heartbeatInterval"],
        ["acceptablePause"] = ["acceptablePause"],
        ["phiMargin"] = ["phiThreshold", "minStdDeviation"],
        ["evaluationDelay"] = ["evaluationInterval"],
        ["downAfterConfirmations"] = ["downAfter", "evaluationInterval"],
    };

    /// <summary>The server's detector tick (not configurable; ServerOptions.DetectorTick).</summary>
    private static readonly TimeSpan DetectorTick = TimeSpan.FromMilliseconds(100);

    public static ConfigPrediction Build(LoadedConfig loaded)
    {
        var config = loaded.Config;
        var detection = new List<DetectionPrediction> { Detect(loaded, "server default", config.Server.Detector, null) };
        detection.AddRange(config.Services.Select(s => Detect(loaded, $"service {s.Key}", s.Value.Detector, s.Key)));
        var several = config.Server.Store == Halo.Core.Configuration.StoreKind.Etcd;
        if (several)
        {
            detection.Add(Handoff(loaded, config.Server.Detector, config.Server.MemberTtl));
        }

        FailoverPrediction Predict(string name, FailoverBudget budget, string? fault = null) =>
            new(name, budget.Total, [.. budget.Terms.Select(t => new SourcedTerm(t.Phase, t.Name, t.Value, t.Reason, t.Source.Length == 0 ? "built in" : loaded.Describe(t.Source)))], fault);
        var failover = config.Groups.SelectMany(g => g.Value.Driver == "postgres"
            ? new[]
            {
                Predict($"{g.Key} (node death)", FailoverBudget.Compute(g.Key, g.Value)),
                Predict($"{g.Key} (postgres crash, agent alive)", FailoverBudget.ComputeCrash(g.Key, g.Value)),
            }
            : [Predict(g.Key, FailoverBudget.Compute(g.Key, g.Value))]).ToList();
        // Typical time to the first acknowledged write per fault kind (docs/failover.md, "Predicted vs measured"), for faults of
        // RepresentativeFault; bench/chaos prints the same model beside what it measures.
        failover.AddRange(config.Groups.Where(g => g.Value.Driver == "redis").SelectMany(g => Enum.GetValues<FaultKind>().Select(kind =>
        {
            var fault = FaultPrediction.Name(kind) + (Lasting(kind) ? $" for {Durations.Format(RepresentativeFault)}" : "");
            return FaultPrediction.Predict(g.Key, g.Value, new FaultShape(kind, Duration: RepresentativeFault)) is { } budget
                ? Predict(g.Key, budget, fault)
                : new FailoverPrediction(g.Key, TimeSpan.Zero, [], fault);
        })));

        List<string> notes =
        [
            "Detection bounds run from an instance's last heartbeat to it being declared Critical (Halo.Core DetectionBound).",
            "Failover budgets run from the primary's last lease renewal to gateways routing to the new primary; detection there is the lease, not heartbeats, so a promotion never overlaps a live primary.",
            several
                ? "With several servers, the owner-dies bound applies to the instances of a server that dies; the others keep the single-server bound. An etcd leader election during the handoff adds up to one more server.memberTtl (etcd restarts lease TTLs on a new leader)."
                : "With several servers (server.store: etcd) an instance whose owning server dies gains an ownership handoff: server.memberTtl + the detector tick + the bound again; this command prints it for such a config.",
            $"Not included: a gateway whose change feed was disconnected reconnects after {loaded.Describe("gateway.feedRetry")} = {Durations.Format(config.Gateway.FeedRetry)}, which adds to re-routing in that case.",
        ];
        return new ConfigPrediction(detection, failover, notes);
    }

    /// <summary>How long a fault that lasts (a pause, a cut, a restart) is assumed to last in the per-kind predictions.</summary>
    private static readonly TimeSpan RepresentativeFault = TimeSpan.FromSeconds(3);

    private static bool Lasting(FaultKind kind) => kind is not (FaultKind.KillPrimary or FaultKind.KillPrimaryStarved);

    private static DetectionPrediction Detect(LoadedConfig loaded, string scope, DetectorOptions options, string? service)
    {
        var bound = DetectionBound.Compute(options);
        var pause = DetectionBound.PauseBudget(options);
        var terms = bound.Terms.Select(t => new SourcedTerm("detection", t.Name, t.Value, t.Formula,
            string.Join(", ", (TermFields.TryGetValue(t.Name, out var fields) ? fields : []).Select(f => Source(loaded, service, f)))));
        return new DetectionPrediction(scope, options.Kind == DetectorKind.Fixed ? "fixed" : "phiAccrual", bound.Total, pause.Total, [.. terms]);
    }

    /// <summary>The server default detector's bound when the instance's owning server dies (DetectionBound.WithOwnerHandoff).</summary>
    private static DetectionPrediction Handoff(LoadedConfig loaded, DetectorOptions options, TimeSpan memberTtl)
    {
        var bound = DetectionBound.WithOwnerHandoff(options, memberTtl, DetectorTick);
        var terms = bound.Terms.Select(t => new SourcedTerm("detection", t.Name, t.Value, t.Formula, t.Name switch
        {
            "ownerLeaseExpiry" => loaded.Describe("server.memberTtl"),
            "handoffPickup" => "server detector tick (built in)",
            "graceRestart" => "the whole detector, as above",
            _ => string.Join(", ", (TermFields.TryGetValue(t.Name, out var fields) ? fields : []).Select(f => Source(loaded, null, f)).Distinct()),
        }));
        return new DetectionPrediction("server default, its owning server dies", options.Kind == DetectorKind.Fixed ? "fixed" : "phiAccrual",
            bound.Total, DetectionBound.PauseBudget(options).Total, [.. terms]);
    }

    // A service's detector field comes from the service if set there, else the server's detector, else the default.
    private static string Source(LoadedConfig loaded, string? service, string field)
    {
        if (service is not null && loaded.Lines.ContainsKey($"services.{service}.detector.{field}"))
        {
            return loaded.Describe($"services.{service}.detector.{field}");
        }

        return loaded.Describe($"server.detector.{field}");
    }
}
