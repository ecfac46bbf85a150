namespace Halo.Core.Availability;

/// <summary>
/// Up when at least k of its n children are up. Exact for non-identical children: a dynamic programme
/// over "how many of the first i children are up" (O(n²)), instead of the binomial formula that only
/// holds when every child has the same availability.
/// </summary>
public sealed class KOfNBlock : Block
{
    private readonly Block[] _children;
    private readonly Block _effective;

    /// <param name="beta">Beta factor for common-cause failure (0 = independent); needs identical leaf children.</param>
    public KOfNBlock(string name, int k, IEnumerable<Block> children, double beta = 0)
        : base(name)
    {
        ArgumentNullException.ThrowIfNull(children);
        _children = [.. children];
        if (_children.Length == 0)
        {
            throw new ArgumentException("a k-of-n block needs at least one child", nameof(children));
        }

        if (k < 1 || k > _children.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(k), k, $"k must be within [1, n = {_children.Length}]");
        }

        K = k;
        Beta = beta;
        _effective = CommonCause.Apply(name, _children, beta, (n, c) => new KOfNBlock(n, k, c)) ?? this;
    }

    /// <summary>n identical copies of <paramref name="component"/>, named component[1] … component[n].</summary>
    public static KOfNBlock Identical(string name, int k, int n, Component component, double beta = 0)
    {
        ArgumentNullException.ThrowIfNull(component);
        if (n < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(n), n, "n must be >= 1");
        }

        var copies = Enumerable.Range(1, n).Select(i => component.Scaled($"{component.Name}[{i}]", 1));
        return new KOfNBlock(name, k, copies, beta);
    }

    /// <summary>Minimum number of children that must be up.</summary>
    public int K { get; }

    /// <summary>Fraction of each component's failures that take out all of them at once.</summary>
    public double Beta { get; }

    public override IReadOnlyList<Block> Children => _children;

    // The DP sums many products; rounding can land a hair above 1, which would print as "more than 100%".
    public override double Availability => ReferenceEquals(_effective, this)
        ? Math.Clamp(AtLeast(K, _children.Select(c => c.Availability), skip: -1), 0, 1)
        : _effective.Availability;

    // Child i is critical when exactly k − 1 of the others are up.
    public override double? FailureFrequency => ReferenceEquals(_effective, this)
        ? BlockMath.Frequency(_children, i => Exactly(K - 1, _children.Select(c => c.Availability), i))
        : _effective.FailureFrequency;

    public override double? Reliability(double hours) => ReferenceEquals(_effective, this)
        ? BlockMath.Combine(_children, hours, r => AtLeast(K, r, skip: -1))
        : _effective.Reliability(hours);

    public override IEnumerable<BlockVariant> Variants() =>
        CommonCause.MemberVariants(Name, _children, Beta, children => new KOfNBlock(Name, K, children, Beta))
            .Concat(CommonCause.BetaVariant(Name, Beta, b => new KOfNBlock(Name, K, _children, b)));

    internal override IStateSampler CreateSampler(Random random) => ReferenceEquals(_effective, this)
        ? new CountingSampler([.. _children.Select(c => c.CreateSampler(random))], K)
        : _effective.CreateSampler(random);

    /// <summary>P(at least k of the given independent events occur), skipping index <paramref name="skip"/>.</summary>
    internal static double AtLeast(int k, IEnumerable<double> probabilities, int skip)
    {
        var distribution = UpCountDistribution(probabilities, skip);
        var sum = 0.0;
        for (var j = Math.Max(k, 0); j < distribution.Length; j++)
        {
            sum += distribution[j];
        }

        return sum;
    }

    private static double Exactly(int k, IEnumerable<double> probabilities, int skip)
    {
        var distribution = UpCountDistribution(probabilities, skip);
        return k >= 0 && k < distribution.Length ? distribution[k] : 0;
    }

    // distribution[j] = P(exactly j up) after folding in each child: the Poisson-binomial recurrence.
    private static double[] UpCountDistribution(IEnumerable<double> probabilities, int skip)
    {
        var p = probabilities.Where((_, i) => i != skip).ToArray();
        var distribution = new double[p.Length + 1];
        distribution[0] = 1;
        for (var i = 0; i < p.Length; i++)
        {
            for (var j = i + 1; j >= 1; j--)
            {
                distribution[j] = (distribution[j] * (1 - p[i])) + (distribution[j - 1] * p[i]);
            }

            distribution[0] *= 1 - p[i];
        }

        return distribution;
    }
}
