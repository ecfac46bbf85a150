namespace Halo.Core.Detection;

/// <summary>
/// Checks a <see cref="DetectorOptions"/> against the ranges documented on it, so a bad TTL fails at
/// registration or start-up rather than during a failover. Field names are the camelCase JSON names.
/// </summary>
public static class DetectorOptionsValidator
{
    /// <summary>Returns (field, message) for each invalid field; empty when the options are valid.</summary>
    public static IReadOnlyList<(string Field, string Message)> Validate(DetectorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<(string Field, string Message)>();

        if (!Enum.IsDefined(options.Kind))
        {
            errors.Add(("kind", "must be 'fixed' or 'phiAccrual'"));
        }

        Range(errors, "heartbeatInterval", options.HeartbeatInterval, TimeSpan.FromMilliseconds(50), TimeSpan.FromHours(1));
        Range(errors, "missedHeartbeats", options.MissedHeartbeats, 1, 100);

        var phiValid = double.IsFinite(options.PhiThreshold) && options.PhiThreshold is >= 1 and <= 16;
        if (!phiValid)
        {
            errors.Add(("phiThreshold", "must be between 1 and 16"));
        }

        if (!double.IsFinite(options.SuspectPhi) || options.SuspectPhi <= 0)
        {
            errors.Add(("suspectPhi", "must be greater than 0"));
        }
        else if (phiValid && options.SuspectPhi >= options.PhiThreshold)
        {
            errors.Add(("suspectPhi", "must be less than phiThreshold"));
        }

        Range(errors, "minStdDeviation", options.MinStdDeviation, TimeSpan.FromMilliseconds(1), TimeSpan.FromHours(1));
        Range(errors, "acceptablePause", options.AcceptablePause, TimeSpan.Zero, TimeSpan.FromHours(1));
        Range(errors, "sampleWindow", options.SampleWindow, 2, 10_000);
        Range(errors, "downAfter", options.DownAfter, 1, 100);
        Range(errors, "upAfter", options.UpAfter, 1, 100);
        Range(errors, "evaluationInterval", options.EvaluationInterval, TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(1));

        if (options.RemoveAfter is { } removeAfter)
        {
            Range(errors, "removeAfter", removeAfter, TimeSpan.FromSeconds(1), TimeSpan.FromDays(30));
        }

        return errors;
    }

    private static void Range(List<(string, string)> errors, string field, TimeSpan value, TimeSpan min, TimeSpan max)
    {
        if (value < min || value > max)
        {
            errors.Add((field, $"must be between {Format(min)} and {Format(max)}"));
        }
    }

    private static void Range(List<(string, string)> errors, string field, int value, int min, int max)
    {
        if (value < min || value > max)
        {
            errors.Add((field, FormattableString.Invariant($"must be between {min} and {max}")));
        }
    }

    private static string Format(TimeSpan t) =>
        t == TimeSpan.Zero ? "0"
        : t.TotalDays >= 1 ? FormattableString.Invariant($"{t.TotalDays:0.##}d")
        : t.TotalHours >= 1 ? FormattableString.Invariant($"{t.TotalHours:0.##}h")
        : t.TotalMinutes >= 1 ? FormattableString.Invariant($"{t.TotalMinutes:0.##}m")
        : t.TotalSeconds >= 1 ? FormattableString.Invariant($"{t.TotalSeconds:0.##}s")
        : FormattableString.Invariant($"{t.TotalMilliseconds:0.##}ms");
}
