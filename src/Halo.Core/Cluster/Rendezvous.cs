namespace Halo.Core.Cluster;

/// <summary>
/// Rendezvous (highest-random-weight) hashing: a key belongs to the candidate with the highest stable hash of
/// (candidate, key). Every process that sees the same candidates picks the same owner without talking to the others,
/// and when a candidate leaves, only the keys it owned move (to the candidates that scored next), never the rest:
/// the property mod-N hashing lacks (Thaler and Ravishankar 1996).
/// </summary>
public static class Rendezvous
{
    /// <summary>The owner of <paramref name="key"/> among <paramref name="candidates"/> (by their ids), or null when there are none.</summary>
    public static T? Owner<T>(string key, IReadOnlyList<T> candidates, Func<T, string> id)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(id);
        T? best = null;
        var bestScore = 0UL;
        string? bestId = null;
        foreach (var candidate in candidates)
        {
            var candidateId = id(candidate);
            var score = StableHash.Of(candidateId + "\n" + key);
            // Ties (astronomically rare) go to the smaller id, so every process still agrees.
            if (best is null || score > bestScore || score == bestScore && string.CompareOrdinal(candidateId, bestId) < 0)
            {
                best = candidate;
                bestScore = score;
                bestId = candidateId;
            }
        }

        return best;
    }
}
