namespace Halo.Core.Detection;

/// <summary>
/// Judges one instance from its heartbeat history at a given time. Implementations are pure and
/// stateless (all state is in the <see cref="HeartbeatHistory"/>), so one detector serves many instances.
/// </summary>
public interface IFailureDetector
{
    /// <summary>Raw judgement of <paramref name="history"/> at <paramref name="now"/>, before any hysteresis.</summary>
    DetectorVerdict Judge(HeartbeatHistory history, DateTimeOffset now);

    /// <summary>
    /// The earliest time the raw verdict, now <paramref name="current"/>, turns worse if no heartbeat arrives meanwhile, or
    /// <see cref="DateTimeOffset.MaxValue"/> when it cannot (Critical). Both detectors worsen only with silence, so an
    /// evaluator can leave a quiet instance alone until then instead of judging it on every tick.
    /// </summary>
    DateTimeOffset WorsensAt(HeartbeatHistory history, HealthStatus current);
}

/// <summary>Builds the detector an options record asks for.</summary>
public static class FailureDetector
{
    /// <summary>Returns the detector for <paramref name="options"/>.<see cref="DetectorOptions.Kind"/>.</summary>
    public static IFailureDetector Create(DetectorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.Kind switch
        {
            DetectorKind.Fixed => new FixedThresholdDetector(options),
            DetectorKind.PhiAccrual => new PhiAccrualDetector(options),
            _ => throw new ArgumentOutOfRangeException(nameof(options), options.Kind, "Unknown detector kind."),
        };
    }

    internal static TimeSpan Silence(HeartbeatHistory history, DateTimeOffset now)
    {
        // A clock that steps back (or an evaluation racing a heartbeat) must not yield negative silence.
        var silence = now - history.Reference;
        return silence < TimeSpan.Zero ? TimeSpan.Zero : silence;
    }

    internal static DateTimeOffset After(HeartbeatHistory history, TimeSpan silence) =>
        silence >= DateTimeOffset.MaxValue - history.Reference ? DateTimeOffset.MaxValue : history.Reference + silence;

    internal static int Missed(TimeSpan silence, TimeSpan interval) =>
        (int)Math.Min(int.MaxValue, Math.Floor(silence / interval));
}
