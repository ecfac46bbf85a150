namespace Halo.Core.Availability;

/// <summary>One row of the sensitivity table: what improving one input does to yearly downtime.</summary>
/// <param name="Input">Dotted path of the input, e.g. <c>db.failoverTime</c>.</param>
/// <param name="Change">The improvement tried, e.g. "MTTR ÷ 2".</param>
/// <param name="Availability">System availability with that change.</param>
/// <param name="DowntimeSavedMinutesPerYear">Baseline minus new downtime, minutes per 365-day year.</param>
public sealed record SensitivityRow(string Input, string Change, double Availability, double DowntimeSavedMinutesPerYear);

/// <summary>
/// Ranks inputs by how much halving their "badness" (unavailability, MTTR, failover time, uncovered
/// fraction, β; or doubling MTBF) reduces yearly downtime. A finite change rather than a derivative,
/// because "what buys the most minutes" is the question engineers ask.
/// </summary>
public static class Sensitivity
{
    public static IReadOnlyList<SensitivityRow> Analyse(Block model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var baseline = model.Unavailability;
        return
        [
            .. model.Variants()
                .Select(v => new SensitivityRow(v.Input, v.Change, v.Model.Availability,
                    (baseline - v.Model.Unavailability) * AvailabilityFigures.HoursPerYear * 60))
                .OrderByDescending(r => r.DowntimeSavedMinutesPerYear)
                .ThenBy(r => r.Input, StringComparer.Ordinal),
        ];
    }
}
