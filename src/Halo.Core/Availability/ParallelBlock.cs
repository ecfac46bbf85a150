namespace Halo.Core.Availability;

/// <summary>Up when at least one child is up: A = 1 − Π (1 − Aᵢ).</summary>
public sealed class ParallelBlock : Block
{
    private readonly Block[] _children;
    private readonly Block _effective;

    /// <param name="beta">Beta factor for common-cause failure (0 = independent); needs identical leaf children.</param>
    public ParallelBlock(string name, IEnumerable<Block> children, double beta = 0)
        : base(name)
    {
        ArgumentNullException.ThrowIfNull(children);
        _children = [.. children];
        if (_children.Length == 0)
        {
            throw new ArgumentException("a parallel block needs at least one child", nameof(children));
        }

        Beta = beta;
        _effective = CommonCause.Apply(name, _children, beta, (n, c) => new ParallelBlock(n, c)) ?? this;
    }

    /// <summary>Fraction of each component's failures that take out all of them at once.</summary>
    public double Beta { get; }

    public override IReadOnlyList<Block> Children => _children;

    public override double Availability => ReferenceEquals(_effective, this)
        ? 1 - _children.Aggregate(1.0, (product, child) => product * child.Unavailability)
        : _effective.Availability;

    public override double? FailureFrequency => ReferenceEquals(_effective, this)
        ? BlockMath.Frequency(_children, i => OthersDown(i))
        : _effective.FailureFrequency;

    public override double? Reliability(double hours) => ReferenceEquals(_effective, this)
        ? BlockMath.Combine(_children, hours, r => 1 - r.Aggregate(1.0, (p, x) => p * (1 - x)))
        : _effective.Reliability(hours);

    public override IEnumerable<BlockVariant> Variants() =>
        CommonCause.MemberVariants(Name, _children, Beta, children => new ParallelBlock(Name, children, Beta))
            .Concat(CommonCause.BetaVariant(Name, Beta, b => new ParallelBlock(Name, _children, b)));

    internal override IStateSampler CreateSampler(Random random) => ReferenceEquals(_effective, this)
        ? new CountingSampler([.. _children.Select(c => c.CreateSampler(random))], 1)
        : _effective.CreateSampler(random);

    private double OthersDown(int skip)
    {
        var product = 1.0;
        for (var i = 0; i < _children.Length; i++)
        {
            if (i != skip)
            {
                product *= _children[i].Unavailability;
            }
        }

        return product;
    }
}
