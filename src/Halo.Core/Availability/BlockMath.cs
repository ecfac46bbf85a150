namespace Halo.Core.Availability;

/// <summary>Composition rules shared by the structural blocks.</summary>
internal static class BlockMath
{
    /// <summary>
    /// System outage frequency for independent children: f = Σ Iᵢ·fᵢ, where Iᵢ (Birnbaum importance) is
    /// the probability the system is up with child i up and down with it down. Null if any fᵢ is unknown.
    /// </summary>
    public static double? Frequency(IReadOnlyList<Block> children, Func<int, double> importance)
    {
        var total = 0.0;
        for (var i = 0; i < children.Count; i++)
        {
            if (children[i].FailureFrequency is not { } frequency)
            {
                return null;
            }

            if (frequency > 0)
            {
                total += importance(i) * frequency;
            }
        }

        return total;
    }

    /// <summary>Mission reliability: the same structure function applied to the children's R(t).</summary>
    public static double? Combine(IReadOnlyList<Block> children, double hours, Func<double[], double> structure)
    {
        var values = new double[children.Count];
        for (var i = 0; i < values.Length; i++)
        {
            if (children[i].Reliability(hours) is not { } r)
            {
                return null;
            }

            values[i] = r;
        }

        return structure(values);
    }

    /// <summary>Every child variant, re-wrapped in the parent with that one child replaced.</summary>
    public static IEnumerable<BlockVariant> ChildVariants(IReadOnlyList<Block> children, Func<Block[], Block> rebuild)
    {
        for (var i = 0; i < children.Count; i++)
        {
            foreach (var variant in children[i].Variants())
            {
                var replaced = children.ToArray();
                replaced[i] = variant.Model;
                yield return variant with { Model = rebuild(replaced) };
            }
        }
    }
}

/// <summary>Up when at least <c>needed</c> of the child samplers come up.</summary>
internal sealed class CountingSampler(IStateSampler[] children, int needed) : IStateSampler
{
    public bool SampleUp(Random random)
    {
        // Sample every child even after the answer is known, so each draw uses a fixed number of
        // random numbers and a seed reproduces the same run whatever the structure short-circuits.
        var up = 0;
        foreach (var child in children)
        {
            if (child.SampleUp(random))
            {
                up++;
            }
        }

        return up >= needed;
    }
}
