namespace Halo.Core.Detection;

/// <summary>One named term of a detection bound, for printing (<c>halo model --from-config</c>).</summary>
/// <param name="Name">Short camelCase name, e.g. "missedHeartbeats", "evaluationDelay".</param>
/// <param name="Value">The term's contribution.</param>
/// <param name="Formula">How it is computed from the options, e.g. "3 × 1 s".</param>
public sealed record BoundTerm(string Name, TimeSpan Value, string Formula);

/// <summary>A computed time and the terms that sum to it.</summary>
/// <param name="Total">Sum of <paramref name="Terms"/>.</param>
/// <param name="Terms">The terms in order.</param>
public sealed record TimeBound(TimeSpan Total, IReadOnlyList<BoundTerm> Terms);

/// <summary>
/// What a detector configuration promises (DESIGN invariant 3). Let T be the silence at which the raw
/// verdict turns Critical, E the evaluation interval and D = DownAfter. The evaluator sees a critical
/// verdict at its first tick at or after T (at most E later) and confirms it D − 1 ticks after that, so
/// a silent instance is Critical at most T + D·E after its last heartbeat, and never before T + (D − 1)·E.
/// A heartbeat gap shorter than T + (D − 1)·E therefore never produces a Critical.
/// For phi accrual T assumes a steady sender at the configured interval with the minimum deviation
/// (also the detector's bootstrap assumption); a jittery sender has a larger deviation and a later T.
/// Assumes the evaluator keeps its schedule; a stalled evaluator adds its stall.
/// </summary>
public static class DetectionBound
{
    /// <summary>Worst-case time from an instance's last heartbeat until it is declared Critical.</summary>
    public static TimeBound Compute(DetectorOptions options)
    {
        var terms = new List<BoundTerm>(CriticalSilence(options))
        {
            new("evaluationDelay", options.EvaluationInterval, $"first evaluation tick after the threshold, ≤ {Format(options.EvaluationInterval)}"),
        };
        AddConfirmations(terms, options);
        return Sum(terms);
    }

    /// <summary>
    /// The worst case when several servers share the judging and the instance's owner may die (docs/ha.md). An owner that
    /// dies just before its verdict has spent up to the whole <see cref="Compute"/> bound; its services move once its
    /// membership lease lapses (at most <paramref name="memberTtl"/> after its last renewal) and the next owner's detector
    /// tick (at most <paramref name="detectorTick"/>) takes them; the new owner then judges from the handoff, with a grace
    /// period (silence before it is not counted, so a live instance whose heartbeats went to the dead server is never marked
    /// down), hence the bound again. Holds for one server death at a time; an etcd leader election during the handoff
    /// restarts every lease's TTL (etcd's rule) and so adds up to one more <paramref name="memberTtl"/>.
    /// </summary>
    public static TimeBound WithOwnerHandoff(DetectorOptions options, TimeSpan memberTtl, TimeSpan detectorTick)
    {
        var bound = Compute(options);
        var terms = new List<BoundTerm>(bound.Terms)
        {
            new("ownerLeaseExpiry", memberTtl, $"the dead owner's membership lease lapses ≤ {Format(memberTtl)} after its last renewal"),
            new("handoffPickup", detectorTick, $"the next owner's detector tick, ≤ {Format(detectorTick)}"),
            new("graceRestart", bound.Total, $"the new owner judges from the handoff: the bound again, {Format(bound.Total)}"),
        };
        return Sum(terms);
    }

    /// <summary>
    /// The pause budget: a heartbeat gap strictly shorter than this never causes a Critical (whatever the
    /// evaluator's phase). It is also the earliest a silent instance can be declared Critical.
    /// </summary>
    public static TimeBound PauseBudget(DetectorOptions options)
    {
        var terms = new List<BoundTerm>(CriticalSilence(options));
        AddConfirmations(terms, options);
        return Sum(terms);
    }

    /// <summary>The silence T at which the raw verdict turns Critical, as terms.</summary>
    public static IReadOnlyList<BoundTerm> CriticalSilence(DetectorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var interval = options.HeartbeatInterval;
        var pause = new BoundTerm("acceptablePause", options.AcceptablePause, Format(options.AcceptablePause));
        if (options.Kind == DetectorKind.Fixed)
        {
            return
            [
                new("missedHeartbeats", interval * options.MissedHeartbeats, $"{options.MissedHeartbeats} × {Format(interval)}"),
                pause,
            ];
        }

        var std = options.MinStdDeviation.TotalMilliseconds;
        var y = (PhiAccrualDetector.SilenceAt(options.PhiThreshold, 0, std)) / std;
        // Truncating to TimeSpan ticks could land a hair below the real crossing; round up one tick.
        var margin = TimeSpan.FromTicks((long)Math.Ceiling(y * options.MinStdDeviation.Ticks));
        return
        [
            new("meanInterval", interval, $"steady heartbeat every {Format(interval)}"),
            pause,
            new("phiMargin", margin, FormattableString.Invariant($"phi {options.PhiThreshold} reached {y:0.###} σ past the mean, σ = minStdDeviation {Format(options.MinStdDeviation)}")),
        ];
    }

    private static void AddConfirmations(List<BoundTerm> terms, DetectorOptions options) =>
        terms.Add(new("downAfterConfirmations", options.EvaluationInterval * (options.DownAfter - 1),
            $"({options.DownAfter} − 1) × {Format(options.EvaluationInterval)}"));

    private static TimeBound Sum(List<BoundTerm> terms)
    {
        var total = TimeSpan.Zero;
        foreach (var term in terms)
        {
            total += term.Value;
        }

        return new TimeBound(total, terms);
    }

    private static string Format(TimeSpan t) => t.TotalSeconds >= 1
        ? FormattableString.Invariant($"{t.TotalSeconds:0.###} s")
        : FormattableString.Invariant($"{t.TotalMilliseconds:0.###} ms");
}
