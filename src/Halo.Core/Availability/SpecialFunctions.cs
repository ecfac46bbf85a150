namespace Halo.Core.Availability;

/// <summary>The few special functions the availability maths needs.</summary>
internal static class SpecialFunctions
{
    // Lanczos approximation (g = 7, 9 terms): relative error below 1e-15 for positive arguments,
    // which is all a Weibull mean Γ(1 + 1/β) ever asks for.
    private static readonly double[] LanczosCoefficients =
    [
        0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
        -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
        1.5056327351493116e-7,
    ];

    /// <summary>Γ(x) for x &gt; 0.</summary>
    public static double Gamma(double x)
    {
        if (x < 0.5)
        {
            // Reflection keeps the series in its accurate range.
            return Math.PI / (Math.Sin(Math.PI * x) * Gamma(1 - x));
        }

        x -= 1;
        var sum = LanczosCoefficients[0];
        for (var i = 1; i < LanczosCoefficients.Length; i++)
        {
            sum += LanczosCoefficients[i] / (x + i);
        }

        var t = x + 7.5;
        return Math.Sqrt(2 * Math.PI) * Math.Pow(t, x + 0.5) * Math.Exp(-t) * sum;
    }

    /// <summary>eˣ − 1 without the cancellation that loses every digit when x is tiny (λt for short missions).</summary>
    public static double ExpM1(double x) =>
        Math.Abs(x) < 1e-5 ? x + (x * x / 2) + (x * x * x / 6) : Math.Exp(x) - 1;
}
