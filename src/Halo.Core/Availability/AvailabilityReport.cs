namespace Halo.Core.Availability;

/// <summary>What the report covers beyond steady state.</summary>
/// <param name="PeriodHours">Period for the Poisson outage counts. Default one 365-day year.</param>
/// <param name="MissionHours">Mission time for no-repair reliability. Default one 365-day year.</param>
/// <param name="MaxFailures">Largest k for which P(k outages in the period) is listed. Default 3.</param>
public sealed record ReportOptions(double PeriodHours = AvailabilityFigures.HoursPerYear, double MissionHours = AvailabilityFigures.HoursPerYear, int MaxFailures = 3);

/// <summary>Every figure <c>halo model</c> prints, computed once here so the CLI only renders.</summary>
public sealed record AvailabilityReport(
    string Name,
    double Availability,
    double Nines,
    double DowntimeMinutesPerYear,
    double DowntimeMinutesPerMonth,
    double? OutagesPerYear,
    double? MeanOutageHours,
    double PeriodHours,
    IReadOnlyList<double>? OutageCountProbabilities,
    double MissionHours,
    double? MissionReliability,
    IReadOnlyList<SensitivityRow> Sensitivity)
{
    public static AvailabilityReport Build(Block model, ReportOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        Guard.Positive(options.PeriodHours, "period");
        Guard.NonNegative(options.MissionHours, "missionTime");
        var a = model.Availability;
        var frequency = model.FailureFrequency;

        // Outages of a repairable system in steady state arrive roughly as a Poisson process with the
        // system's outage frequency; exact for a single exponential component, an approximation above it.
        IReadOnlyList<double>? counts = frequency is { } f
            ? [.. Enumerable.Range(0, options.MaxFailures + 1).Select(k => Poisson.Probability(k, f * options.PeriodHours))]
            : null;
        return new AvailabilityReport(
            model.Name,
            a,
            AvailabilityFigures.Nines(a),
            AvailabilityFigures.DowntimeMinutes(a, AvailabilityFigures.HoursPerYear),
            AvailabilityFigures.DowntimeMinutes(a, AvailabilityFigures.HoursPerMonth),
            frequency * AvailabilityFigures.HoursPerYear,
            frequency is > 0 ? (1 - a) / frequency : null,
            options.PeriodHours,
            counts,
            options.MissionHours,
            model.Reliability(options.MissionHours),
            Halo.Core.Availability.Sensitivity.Analyse(model));
    }
}
