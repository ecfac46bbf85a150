namespace Halo.Core.Availability;

/// <summary>
/// An active/standby pair of identical units with failover, solved as a continuous-time Markov chain.
/// States: 0 both up (active serving); 1 active failed, automatic failover under way; 2 active failed
/// and not detected/covered, waiting for manual recovery; 3 one unit serving, the other under repair;
/// 4 both down. States 1, 2 and 4 are outages. Each failed unit has its own repair (rate μ) that starts
/// once service is restored or both are down; every duration is exponential with the given mean.
/// With coverage 1 and zero failover time the chain reduces to two independent repairable units.
/// </summary>
public sealed class StandbyPairBlock : Block
{
    private const int BothUp = 0, FailingOver = 1, ManualRecovery = 2, OneUp = 3, BothDown = 4;
    private readonly double[] _stationary;

    /// <param name="failureRate">λ of the active unit, per hour.</param>
    /// <param name="repairTime">Mean repair time of a failed unit, hours (μ = 1/repairTime).</param>
    /// <param name="failoverTime">Mean automatic failover time, hours (0 = instantaneous).</param>
    /// <param name="coverage">Probability a failure of the active unit is detected and failed over automatically.</param>
    /// <param name="manualRecoveryTime">Mean time for an operator to restore service after an uncovered failure, hours.</param>
    /// <param name="standbyFailureFactor">Standby failure rate as a fraction of λ: 1 hot, 0 cold.</param>
    public StandbyPairBlock(string name, double failureRate, double repairTime, double failoverTime, double coverage,
        double manualRecoveryTime, double standbyFailureFactor = 1)
        : base(name)
    {
        Guard.Positive(failureRate, nameof(failureRate));
        Guard.Positive(repairTime, nameof(repairTime));
        Guard.NonNegative(failoverTime, nameof(failoverTime));
        Guard.Probability(coverage, nameof(coverage));
        Guard.NonNegative(manualRecoveryTime, nameof(manualRecoveryTime));
        Guard.Probability(standbyFailureFactor, nameof(standbyFailureFactor));
        FailureRate = failureRate;
        RepairTime = repairTime;
        FailoverTime = failoverTime;
        Coverage = coverage;
        ManualRecoveryTime = manualRecoveryTime;
        StandbyFailureFactor = standbyFailureFactor;
        _stationary = LinearSystem.Stationary(Rates());
    }

    public double FailureRate { get; }

    public double RepairTime { get; }

    public double FailoverTime { get; }

    public double Coverage { get; }

    public double ManualRecoveryTime { get; }

    public double StandbyFailureFactor { get; }

    /// <summary>Stationary probabilities of the five states, in the order documented on the type.</summary>
    public IReadOnlyList<double> StateProbabilities => _stationary;

    public override IReadOnlyList<Block> Children => [];

    public override double Availability => _stationary[BothUp] + _stationary[OneUp];

    // Outages begin on a failure of the serving unit; a covered failure with instant failover is no outage.
    public override double? FailureFrequency =>
        (_stationary[BothUp] * FailureRate * ((FailoverTime > 0 ? Coverage : 0) + (ManualRecoveryTime > 0 ? 1 - Coverage : 0)))
        + (_stationary[OneUp] * FailureRate);

    /// <summary>
    /// Survival with no repair, counting a covered failover as survived: the standby fails first (rate λs)
    /// or the active fails and is covered, and then the remaining unit lasts the rest of the mission.
    /// R(t) = e^(−(λ+λs)t) + (λs + cλ)·e^(−λt)·(1 − e^(−λs t))/λs, with the λs → 0 limit e^(−λt)(1 + cλt).
    /// </summary>
    public override double? Reliability(double hours)
    {
        var l = FailureRate;
        var ls = StandbyFailureFactor * l;
        var tail = ls == 0 ? Coverage * l * hours : (ls + (Coverage * l)) * (-SpecialFunctions.ExpM1(-ls * hours)) / ls;
        return Math.Exp(-(l + ls) * hours) + (Math.Exp(-l * hours) * tail);
    }

    public override IEnumerable<BlockVariant> Variants()
    {
        yield return new BlockVariant($"{Name}.mtbf", "MTBF × 2", With(failureRate: FailureRate / 2));
        yield return new BlockVariant($"{Name}.mttr", "MTTR ÷ 2", With(repairTime: RepairTime / 2));
        if (FailoverTime > 0)
        {
            yield return new BlockVariant($"{Name}.failoverTime", "failover time ÷ 2", With(failoverTime: FailoverTime / 2));
        }

        if (Coverage < 1)
        {
            yield return new BlockVariant($"{Name}.coverage", "uncovered fraction ÷ 2", With(coverage: 1 - ((1 - Coverage) / 2)));
        }

        if (Coverage < 1 && ManualRecoveryTime > 0)
        {
            yield return new BlockVariant($"{Name}.manualRecovery", "manual recovery ÷ 2", With(manualRecoveryTime: ManualRecoveryTime / 2));
        }
    }

    internal override IStateSampler CreateSampler(Random random) => StandbyTrajectory.Simulate(this, random);

    private StandbyPairBlock With(double? failureRate = null, double? repairTime = null, double? failoverTime = null,
        double? coverage = null, double? manualRecoveryTime = null) =>
        new(Name, failureRate ?? FailureRate, repairTime ?? RepairTime, failoverTime ?? FailoverTime,
            coverage ?? Coverage, manualRecoveryTime ?? ManualRecoveryTime, StandbyFailureFactor);

    private double[,] Rates()
    {
        var l = FailureRate;
        var ls = StandbyFailureFactor * l;
        var mu = 1 / RepairTime;
        var q = new double[5, 5];

        // A zero-length failover or manual recovery is an immediate switch: skip the transient state.
        var covered = FailoverTime > 0 ? FailingOver : OneUp;
        var uncovered = ManualRecoveryTime > 0 ? ManualRecovery : OneUp;
        q[BothUp, covered] += Coverage * l;
        q[BothUp, uncovered] += (1 - Coverage) * l;
        q[BothUp, OneUp] += ls;
        if (FailoverTime > 0)
        {
            q[FailingOver, OneUp] = 1 / FailoverTime;
            q[FailingOver, BothDown] = ls;
        }

        if (ManualRecoveryTime > 0)
        {
            q[ManualRecovery, OneUp] = 1 / ManualRecoveryTime;
            q[ManualRecovery, BothDown] = ls;
        }

        q[OneUp, BothUp] = mu;
        q[OneUp, BothDown] = l;
        q[BothDown, OneUp] = 2 * mu;

        // Unreachable transient states (e.g. coverage 1 leaves manual recovery unused) still need an exit
        // so the balance equations have a unique solution; their probability stays zero.
        for (var s = 0; s < 5; s++)
        {
            var outflow = 0.0;
            for (var j = 0; j < 5; j++)
            {
                outflow += q[s, j];
            }

            if (outflow == 0)
            {
                q[s, OneUp] = 1;
            }
        }

        return q;
    }
}
