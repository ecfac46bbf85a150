namespace Halo.Core.Balancing;

/// <summary>
/// Source of randomness for balancing decisions. Injected (as YARP does) so tests are deterministic;
/// callers keep one <see cref="Random"/> per thread because <see cref="Random"/> is not thread-safe.
/// </summary>
public interface IRandomFactory
{
    /// <summary>Creates a new random source.</summary>
    Random Create();
}

/// <summary>Production randomness: a fresh, independently seeded <see cref="Random"/> per call.</summary>
public sealed class SystemRandomFactory : IRandomFactory
{
    /// <inheritdoc />
    public Random Create() => new();
}
