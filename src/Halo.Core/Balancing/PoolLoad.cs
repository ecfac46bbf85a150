namespace Halo.Core.Balancing;

/// <summary>
/// Splits traffic between a primary pool and backup pools in proportion to health (Envoy priority
/// levels): a pool's health is min(100, overprovision × healthy%), pool 0 takes its health as load,
/// the next pool takes what is left up to its own health, and so on. A primary at 80% healthy with
/// the default overprovision of 1.4 still takes everything; at 50% it takes 70% and the backup 30%.
/// When every pool is degraded the shares are normalised so they still sum to 1.
/// </summary>
public static class PoolLoad
{
    /// <summary>Default overprovisioning factor (Envoy's 1.4).</summary>
    public const double DefaultOverprovision = 1.4;

    /// <summary>Returns each pool's share of traffic, summing to 1, from each pool's healthy fraction in [0, 1].</summary>
    public static double[] Shares(IReadOnlyList<double> healthyFractions, double overprovision = DefaultOverprovision)
    {
        ArgumentNullException.ThrowIfNull(healthyFractions);
        var shares = new double[healthyFractions.Count];
        if (shares.Length == 0)
        {
            return shares;
        }

        double totalHealth = 0;
        var health = new double[shares.Length];
        for (var i = 0; i < shares.Length; i++)
        {
            health[i] = Math.Min(1, overprovision * Math.Clamp(healthyFractions[i], 0, 1));
            totalHealth += health[i];
        }

        if (totalHealth <= 0)
        {
            // Nothing healthy anywhere: keep traffic on the primary (the panic path decides what to do there).
            shares[0] = 1;
            return shares;
        }

        // Normalise when the sum of health is below 100% so traffic is not dropped.
        var scale = totalHealth < 1 ? 1 / totalHealth : 1;
        var remaining = 1.0;
        for (var i = 0; i < shares.Length && remaining > 0; i++)
        {
            shares[i] = Math.Min(remaining, health[i] * scale);
            remaining -= shares[i];
        }

        return shares;
    }

    /// <summary>Chooses a pool index by drawing <paramref name="point"/> in [0, 1) against <paramref name="shares"/>.</summary>
    public static int Choose(IReadOnlyList<double> shares, double point)
    {
        ArgumentNullException.ThrowIfNull(shares);
        for (var i = 0; i < shares.Count; i++)
        {
            point -= shares[i];
            if (point < 0)
            {
                return i;
            }
        }

        return 0;
    }
}
