namespace Halo.Core.Detection;

/// <summary>
/// Phi accrual failure detector (Hayashibara et al., 2004), in the form Akka and Orleans use:
/// inter-arrival times are modelled as a normal distribution and phi = -log10(P(a heartbeat arrives
/// later than the current silence)). The normal tail uses the logistic approximation
/// 1 / (1 + e^(y(1.5976 + 0.070566 y²))) (Bowling et al., 2009, max error ~1.4e-4), which keeps phi
/// finite and smooth and has a closed-form inverse (<see cref="SilenceAt"/>).
/// </summary>
public sealed class PhiAccrualDetector : IFailureDetector
{
    private const double A = 1.5976;
    private const double B = 0.070566;

    private readonly DetectorOptions _options;

    /// <summary>Creates the detector; options are assumed validated (<see cref="DetectorOptionsValidator"/>).</summary>
    public PhiAccrualDetector(DetectorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
    }

    /// <inheritdoc />
    public DetectorVerdict Judge(HeartbeatHistory history, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(history);
        var silence = FailureDetector.Silence(history, now);
        var (mean, std) = Distribution(history);
        var phi = Phi(silence.TotalMilliseconds, mean, std);
        var evidence = new HealthEvidence(
            history.LastHeartbeat, silence, phi, FailureDetector.Missed(silence, _options.HeartbeatInterval));
        var status = phi >= _options.PhiThreshold ? HealthStatus.Critical
            : phi >= _options.SuspectPhi ? HealthStatus.Suspect
            : HealthStatus.Passing;
        return new DetectorVerdict(status, evidence);
    }

    /// <inheritdoc />
    public DateTimeOffset WorsensAt(HeartbeatHistory history, HealthStatus current)
    {
        ArgumentNullException.ThrowIfNull(history);
        var phi = current switch
        {
            HealthStatus.Passing => _options.SuspectPhi,
            HealthStatus.Suspect => _options.PhiThreshold,
            _ => double.NaN,
        };
        if (double.IsNaN(phi))
        {
            return DateTimeOffset.MaxValue;
        }

        var (mean, std) = Distribution(history);
        // The closed-form inverse can land a hair past the real crossing; a millisecond early only costs one extra look.
        var milliseconds = Math.Max(0, SilenceAt(phi, mean, std) - 1);
        return FailureDetector.After(history, milliseconds >= TimeSpan.MaxValue.TotalMilliseconds ? TimeSpan.MaxValue : TimeSpan.FromMilliseconds(milliseconds));
    }

    /// <summary>
    /// Phi for a silence given the expected inter-arrival mean (including any acceptable pause) and
    /// standard deviation, all in the same unit.
    /// </summary>
    public static double Phi(double silence, double mean, double stdDeviation)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(stdDeviation);
        var y = (silence - mean) / stdDeviation;
        var k = y * (A + (B * y * y));
        // -log10(1 / (1 + e^k)) = log10(1 + e^k); written as a stable softplus so a long silence gives a
        // large finite phi instead of overflowing to infinity (Akka needs two branches for the same reason).
        var softplus = k > 0 ? k + Math.Log(1 + Math.Exp(-k)) : Math.Log(1 + Math.Exp(k));
        return softplus / Math.Log(10);
    }

    /// <summary>
    /// Inverse of <see cref="Phi"/>: the silence at which phi reaches <paramref name="phi"/>. Solves the
    /// depressed cubic B·y³ + A·y − ln(10^phi − 1) = 0 with Cardano's formula (one real root, since A, B &gt; 0).
    /// </summary>
    public static double SilenceAt(double phi, double mean, double stdDeviation)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(phi);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(stdDeviation);
        var k = Math.Log(Math.Pow(10, phi) - 1);
        var p = A / B;
        var q = -k / B;
        var root = Math.Sqrt((q * q / 4) + (p * p * p / 27));
        var y = Math.Cbrt((-q / 2) + root) + Math.Cbrt((-q / 2) - root);
        return mean + (y * stdDeviation);
    }

    // The expected inter-arrival mean (with the acceptable pause) and deviation, in milliseconds. Bootstrap: until two real
    // inter-arrival samples exist, assume a steady sender at the configured interval with the minimum deviation — exactly
    // the history DetectionBound is computed for, so the bound holds from registration onwards.
    private (double Mean, double Std) Distribution(HeartbeatHistory history)
    {
        var minStd = _options.MinStdDeviation.TotalMilliseconds;
        var pause = _options.AcceptablePause.TotalMilliseconds;
        return history.SampleCount < 2
            ? (_options.HeartbeatInterval.TotalMilliseconds + pause, minStd)
            : (history.MeanMilliseconds + pause, Math.Max(history.StdDeviationMilliseconds, minStd));
    }
}
