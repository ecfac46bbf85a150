namespace Halo.Core.Availability;

/// <summary>
/// Conversions between an availability and the figures people quote. The calendar is explicit: a
/// 365-day year (8,760 h) and a 30-day month (720 h), the usual SLA conventions.
/// </summary>
public static class AvailabilityFigures
{
    /// <summary>Hours in a 365-day year.</summary>
    public const double HoursPerYear = 8760;

    /// <summary>Hours in a 30-day month.</summary>
    public const double HoursPerMonth = 720;

    /// <summary>Number of nines, −log₁₀(1 − A): 0.999 → 3. Infinite for A = 1.</summary>
    public static double Nines(double availability)
    {
        Guard.Probability(availability, nameof(availability));
        return availability == 1 ? double.PositiveInfinity : -Math.Log10(1 - availability);
    }

    /// <summary>Expected downtime in a 365-day year.</summary>
    public static TimeSpan DowntimePerYear(double availability) => Downtime(availability, HoursPerYear);

    /// <summary>Expected downtime in a 30-day month.</summary>
    public static TimeSpan DowntimePerMonth(double availability) => Downtime(availability, HoursPerMonth);

    /// <summary>Expected downtime in minutes over <paramref name="hours"/>, unrounded (TimeSpan rounds to ticks).</summary>
    public static double DowntimeMinutes(double availability, double hours)
    {
        Guard.Probability(availability, nameof(availability));
        return (1 - availability) * hours * 60;
    }

    private static TimeSpan Downtime(double availability, double hours) =>
        TimeSpan.FromMinutes(DowntimeMinutes(availability, hours));
}
