namespace Halo.Core.Availability;

/// <summary>
/// Monte Carlo side of <see cref="StandbyPairBlock"/>: walks one long history of the pair event by event
/// (competing exponential clocks for each unit, the coverage coin flip, failover and repair), records
/// the outage intervals, and answers "up at a uniformly random instant?". It shares no code with the
/// Markov solution, so it checks the generator and the linear algebra rather than repeating them.
/// </summary>
internal sealed class StandbyTrajectory : IStateSampler
{
    // Enough failures and outages that the history's own noise is small next to the sampling noise;
    // when outages need a double failure they are rare, so keep going (within a cap) until enough are seen.
    private const int TargetFailures = 200_000;
    private const int TargetOutages = 10_000;
    private const long MaxEvents = 20_000_000;
    private readonly double[] _outageStarts;
    private readonly double[] _outageEnds;
    private readonly double _horizon;

    private StandbyTrajectory(double[] starts, double[] ends, double horizon)
    {
        _outageStarts = starts;
        _outageEnds = ends;
        _horizon = horizon;
    }

    public static StandbyTrajectory Simulate(StandbyPairBlock pair, Random random)
    {
        var l = pair.FailureRate;
        var ls = pair.StandbyFailureFactor * l;
        var mu = 1 / pair.RepairTime;
        var horizon = TargetFailures / l;
        var starts = new List<double>();
        var ends = new List<double>();
        var t = 0.0;
        var phase = Phase.BothUp;
        long events = 0;
        while (t < horizon || (starts.Count < TargetOutages && events < MaxEvents))
        {
            events++;
            var before = phase;
            switch (phase)
            {
                case Phase.BothUp:
                {
                    var activeFails = Exponential(random, l);
                    var standbyFails = Exponential(random, ls);
                    if (activeFails < standbyFails)
                    {
                        t += activeFails;
                        var covered = random.NextDouble() < pair.Coverage;
                        phase = covered
                            ? (pair.FailoverTime > 0 ? Phase.FailingOver : Phase.OneUp)
                            : (pair.ManualRecoveryTime > 0 ? Phase.Manual : Phase.OneUp);
                    }
                    else
                    {
                        t += standbyFails;
                        phase = Phase.OneUp;
                    }

                    break;
                }

                case Phase.FailingOver:
                case Phase.Manual:
                {
                    var switched = Exponential(random, 1 / (phase == Phase.FailingOver ? pair.FailoverTime : pair.ManualRecoveryTime));
                    var standbyFails = Exponential(random, ls);
                    t += Math.Min(switched, standbyFails);
                    phase = switched <= standbyFails ? Phase.OneUp : Phase.BothDown;
                    break;
                }

                case Phase.OneUp:
                {
                    var repaired = Exponential(random, mu);
                    var servingFails = Exponential(random, l);
                    t += Math.Min(repaired, servingFails);
                    phase = repaired <= servingFails ? Phase.BothUp : Phase.BothDown;
                    break;
                }

                default:
                {
                    // Both units under repair at once; whichever finishes first takes over.
                    t += Math.Min(Exponential(random, mu), Exponential(random, mu));
                    phase = Phase.OneUp;
                    break;
                }
            }

            var wasUp = before is Phase.BothUp or Phase.OneUp;
            var isUp = phase is Phase.BothUp or Phase.OneUp;
            if (wasUp && !isUp)
            {
                starts.Add(t);
            }
            else if (!wasUp && isUp)
            {
                ends.Add(t);
            }
        }

        if (ends.Count < starts.Count)
        {
            ends.Add(double.PositiveInfinity);
        }

        return new StandbyTrajectory([.. starts], [.. ends], t);
    }

    public bool SampleUp(Random random)
    {
        var instant = random.NextDouble() * _horizon;

        // Last outage that started at or before the instant; up unless the instant falls inside it.
        var index = Array.BinarySearch(_outageStarts, instant);
        if (index < 0)
        {
            index = ~index - 1;
        }

        return index < 0 || instant >= _outageEnds[index];
    }

    private static double Exponential(Random random, double rate) =>
        rate <= 0 ? double.PositiveInfinity : -Math.Log(1 - random.NextDouble()) / rate;

    private enum Phase
    {
        BothUp,
        FailingOver,
        Manual,
        OneUp,
        BothDown,
    }
}
