namespace Halo.Core.Availability;

/// <summary>
/// Number of failures in a period for a constant failure rate: P(X = k) = (λt)^k e^(−λt) / k!.
/// The power is on the product λt (the expected count), not on t alone.
/// </summary>
public static class Poisson
{
    /// <summary>P(exactly <paramref name="k"/> events) when <paramref name="expected"/> = λt events are expected.</summary>
    public static double Probability(int k, double expected)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        Guard.NonNegative(expected, nameof(expected));

        // Multiply term by term from e^(−λt): no factorial overflow and exact for the small k reported.
        var p = Math.Exp(-expected);
        for (var i = 1; i <= k; i++)
        {
            p *= expected / i;
        }

        return p;
    }

    /// <summary>P(at most <paramref name="k"/> events).</summary>
    public static double AtMost(int k, double expected)
    {
        var sum = 0.0;
        for (var i = 0; i <= k; i++)
        {
            sum += Probability(i, expected);
        }

        return sum;
    }
}
