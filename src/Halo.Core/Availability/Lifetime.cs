namespace Halo.Core.Availability;

/// <summary>A time-to-failure distribution, used for mission reliability and mean life.</summary>
public interface ILifetime
{
    /// <summary>Mean time to failure in hours.</summary>
    double MeanLife { get; }

    /// <summary>R(t): probability of surviving <paramref name="hours"/> without failure.</summary>
    double Reliability(double hours);
}

/// <summary>Constant failure rate λ (per hour): R(t) = e^(−λt), mean life 1/λ.</summary>
public sealed record ExponentialLifetime : ILifetime
{
    public ExponentialLifetime(double failureRate)
    {
        if (!(failureRate >= 0) || double.IsInfinity(failureRate))
        {
            throw new ArgumentOutOfRangeException(nameof(failureRate), failureRate, "failure rate must be finite and >= 0");
        }

        FailureRate = failureRate;
    }

    /// <summary>λ, failures per hour.</summary>
    public double FailureRate { get; }

    public double MeanLife => FailureRate == 0 ? double.PositiveInfinity : 1 / FailureRate;

    public double Reliability(double hours) => Math.Exp(-FailureRate * hours);
}

/// <summary>
/// Weibull lifetime: R(t) = e^(−(t/η)^β). β &lt; 1 models infant mortality, β = 1 is exponential,
/// β &gt; 1 wear-out; the mean life is η·Γ(1 + 1/β).
/// </summary>
public sealed record WeibullLifetime : ILifetime
{
    public WeibullLifetime(double shape, double scale)
    {
        if (!(shape > 0) || double.IsInfinity(shape))
        {
            throw new ArgumentOutOfRangeException(nameof(shape), shape, "shape must be finite and > 0");
        }

        if (!(scale > 0) || double.IsInfinity(scale))
        {
            throw new ArgumentOutOfRangeException(nameof(scale), scale, "scale must be finite and > 0");
        }

        Shape = shape;
        Scale = scale;
    }

    /// <summary>β, the shape parameter.</summary>
    public double Shape { get; }

    /// <summary>η, the characteristic life in hours (63.2 % have failed by then).</summary>
    public double Scale { get; }

    public double MeanLife => Scale * SpecialFunctions.Gamma(1 + (1 / Shape));

    public double Reliability(double hours) => hours <= 0 ? 1 : Math.Exp(-Math.Pow(hours / Scale, Shape));
}
