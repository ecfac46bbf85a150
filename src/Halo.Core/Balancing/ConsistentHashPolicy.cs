namespace Halo.Core.Balancing;

/// <summary>
/// Ring-hash consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam 2018, as in
/// Google Cloud LB and HAProxy's hash-balance-factor). A key maps to the first destination clockwise
/// on a ring of virtual nodes; when one of N destinations leaves only its ~1/N of keys move. A
/// destination already at ⌈(1+ε)·(total+1)/N⌉ outstanding requests is skipped for the next one on
/// the ring, so one hot key cannot overload a backend. Requests without a key are placed at random.
/// </summary>
public sealed class ConsistentHashPolicy : IBalancingPolicy
{
    private readonly int _virtualNodes;
    private readonly double _loadFactor;
    private RingCache? _cache;

    /// <summary>
    /// Creates the policy. <paramref name="loadFactor"/> is 1+ε (default 1.25; ≥ 1, or 0 to disable the bound);
    /// <paramref name="virtualNodes"/> is ring points per unit of weight (default 100).
    /// </summary>
    public ConsistentHashPolicy(double loadFactor = 1.25, int virtualNodes = 100)
    {
        if (loadFactor != 0 && loadFactor < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(loadFactor), loadFactor, "must be 0 (unbounded) or >= 1");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(virtualNodes, 1);
        _loadFactor = loadFactor;
        _virtualNodes = virtualNodes;
    }

    /// <inheritdoc />
    public BalancingDestination? Pick(IReadOnlyList<BalancingDestination> candidates, BalancingRequest request)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        if (candidates.Count <= 1)
        {
            return candidates.Count == 1 ? candidates[0] : null;
        }

        if (request.HashKey is null)
        {
            return candidates[request.Random.Next(candidates.Count)];
        }

        var ring = GetRing(candidates);
        var start = ring.Find(StableHash.Of(request.HashKey));
        if (_loadFactor == 0)
        {
            return candidates[ring.Owners[start]];
        }

        long total = 0;
        foreach (var d in candidates)
        {
            total += d.InFlight;
        }

        var capacity = Math.Ceiling(_loadFactor * (total + 1) / candidates.Count);
        for (var step = 0; step < ring.Owners.Length; step++)
        {
            var d = candidates[ring.Owners[(start + step) % ring.Owners.Length]];
            if (d.InFlight < capacity)
            {
                return d;
            }
        }

        // Unreachable in theory (some destination is always below the mean); be safe.
        return candidates[ring.Owners[start]];
    }

    private HashRing GetRing(IReadOnlyList<BalancingDestination> candidates)
    {
        // Candidate lists are immutable snapshots, so reference identity is a sound cache key.
        var cache = Volatile.Read(ref _cache);
        if (cache is not null && ReferenceEquals(cache.Candidates, candidates))
        {
            return cache.Ring;
        }

        var ring = HashRing.Build(candidates, _virtualNodes);
        Volatile.Write(ref _cache, new RingCache(candidates, ring));
        return ring;
    }

    private sealed record RingCache(IReadOnlyList<BalancingDestination> Candidates, HashRing Ring);
}

/// <summary>A sorted ring of virtual-node hashes, each owned by a candidate index.</summary>
internal sealed class HashRing
{
    private readonly ulong[] _points;

    private HashRing(ulong[] points, int[] owners)
    {
        _points = points;
        Owners = owners;
    }

    public int[] Owners { get; }

    public static HashRing Build(IReadOnlyList<BalancingDestination> candidates, int virtualNodesPerWeight)
    {
        double maxWeight = 0;
        foreach (var d in candidates)
        {
            maxWeight = Math.Max(maxWeight, d.Weight);
        }

        var entries = new List<(ulong Hash, int Owner)>();
        for (var i = 0; i < candidates.Count; i++)
        {
            // Points depend only on the destination's own id and weight, so other members do not move them.
            var count = Math.Max(1, (int)Math.Round(virtualNodesPerWeight * candidates[i].Weight / maxWeight));
            for (var v = 0; v < count; v++)
            {
                entries.Add((StableHash.Of(candidates[i].Id + "#" + v.ToString(System.Globalization.CultureInfo.InvariantCulture)), i));
            }
        }

        entries.Sort((x, y) => x.Hash.CompareTo(y.Hash));
        return new HashRing(entries.ConvertAll(e => e.Hash).ToArray(), entries.ConvertAll(e => e.Owner).ToArray());
    }

    /// <summary>Index of the first point at or after <paramref name="hash"/>, wrapping around.</summary>
    public int Find(ulong hash)
    {
        var i = Array.BinarySearch(_points, hash);
        if (i < 0)
        {
            i = ~i;
        }

        return i == _points.Length ? 0 : i;
    }
}
