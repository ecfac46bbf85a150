namespace Halo.Core.Availability;

/// <summary>Up only when every child is up: A = Π Aᵢ.</summary>
public sealed class SeriesBlock : Block
{
    private readonly Block[] _children;

    public SeriesBlock(string name, IEnumerable<Block> children)
        : base(name)
    {
        ArgumentNullException.ThrowIfNull(children);
        _children = [.. children];
        if (_children.Length == 0)
        {
            throw new ArgumentException("a series block needs at least one child", nameof(children));
        }
    }

    public override IReadOnlyList<Block> Children => _children;

    public override double Availability => _children.Aggregate(1.0, (product, child) => product * child.Availability);

    // Each child's outages break the system exactly when all the others are up (its Birnbaum importance).
    public override double? FailureFrequency => BlockMath.Frequency(_children, i => Product(i, c => c.Availability));

    public override double? Reliability(double hours) => BlockMath.Combine(_children, hours, r => r.Aggregate(1.0, (p, x) => p * x));

    public override IEnumerable<BlockVariant> Variants() =>
        BlockMath.ChildVariants(_children, children => new SeriesBlock(Name, children));

    internal override IStateSampler CreateSampler(Random random) =>
        new CountingSampler([.. _children.Select(c => c.CreateSampler(random))], _children.Length);

    private double Product(int skip, Func<Block, double> value)
    {
        var product = 1.0;
        for (var i = 0; i < _children.Length; i++)
        {
            if (i != skip)
            {
                product *= value(_children[i]);
            }
        }

        return product;
    }
}
