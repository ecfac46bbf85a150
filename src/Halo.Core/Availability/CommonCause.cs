namespace Halo.Core.Availability;

/// <summary>
/// Beta-factor common-cause failure: a fraction β of each component's failure probability is a shared
/// cause (same bad config push, same power feed) that takes out every member at once. The redundant block
/// becomes "common-cause event absent AND the redundant block of the independent parts".
/// </summary>
internal static class CommonCause
{
    public static Block? Apply(string name, Block[] children, double beta, Func<string, Block[], Block> independent)
    {
        Guard.Probability(beta, nameof(beta));
        if (beta == 0)
        {
            return null;
        }

        // The beta model is defined for a group of identical components (one failure probability for
        // the group); SCRAM's beta-factor CCF groups carry the same restriction.
        if (children.Any(c => c is not Component) ||
            children.Cast<Component>().Select(c => c.Availability).Distinct().Count() != 1)
        {
            throw new ArgumentException("beta needs identical components (same availability) as children", nameof(beta));
        }

        var members = children.Cast<Component>().ToArray();
        var shared = members[0].Scaled($"{name} common cause", beta);
        var parts = members.Select(m => (Block)m.Scaled($"{m.Name} (independent)", 1 - beta)).ToArray();
        return new SeriesBlock($"{name} with common cause", [shared, independent($"{name} independent", parts)]);
    }

    public static IEnumerable<BlockVariant> BetaVariant(string name, double beta, Func<double, Block> rebuild)
    {
        if (beta > 0)
        {
            yield return new BlockVariant($"{name}.beta", "β ÷ 2", rebuild(beta / 2));
        }
    }

    /// <summary>
    /// Variants of a beta group change every member together: the group is identical by definition, so
    /// improving one member alone is not a model the beta factor can describe.
    /// </summary>
    public static IEnumerable<BlockVariant> MemberVariants(string name, Block[] children, double beta, Func<Block[], Block> rebuild)
    {
        if (beta == 0)
        {
            return BlockMath.ChildVariants(children, rebuild);
        }

        var first = children[0];
        return first.Variants().Select(v => v with
        {
            Input = $"{name}.members{v.Input[first.Name.Length..]}",
            Model = rebuild([.. children.Select(c => (Block)((Component)v.Model).Scaled(c.Name, 1))]),
        });
    }
}
